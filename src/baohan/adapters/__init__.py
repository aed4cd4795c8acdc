"""Adapters to the outside: database, outbox delivery, documents, files, payment, invoices."""
