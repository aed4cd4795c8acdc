"""Alembic migrations; run them with ``baohan.adapters.db.migrate.upgrade``."""
