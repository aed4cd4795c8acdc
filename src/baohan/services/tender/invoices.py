"""The issuer's tender invoices: numbered from a database counter, drawn by the local e-invoice adapter,
kept in the file store and served by an unguessable token in their URL.

The serial comes from one atomic increment of the ``invoice`` counter (an upsert, the same statement on
SQLite and PostgreSQL), so two invoices issued at once never share a number, and a rolled-back issue
leaves at most a gap, never a duplicate.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import TenderApplication, TenderCounter, TenderInvoice
from baohan.adapters.documents.invoice import InvoiceKind, InvoiceRequest, Seller, issue
from baohan.adapters.files import FileStore
from baohan.services.tender.requests import Requests

INVOICE_COUNTER = "invoice"
INVOICE_PATH = "/invoices/"
# Kept from invoiceapply: what the invoice prints. Contact details (email, mobile, contactname,
# contactaddress) are for delivery by the platform, which has them; we do not keep them.
INVOICE_FIELDS = ("biddername", "biddercode", "amount", "type", "address", "phone", "bank", "account")


def next_value(session: Session, name: str) -> int:
    """The next value (1, 2, ...) of counter ``name``, taken atomically in the caller's transaction."""
    upsert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        upsert(TenderCounter)
        .values(name=name, value=1)
        .on_conflict_do_update(index_elements=["name"], set_={"value": TenderCounter.value + 1})
        .returning(TenderCounter.value)
    )
    return int(session.execute(stmt).scalar_one())


def invoice_request(app: TenderApplication, fields: dict[str, Any]) -> InvoiceRequest:
    """The adapter's request from the kept invoiceapply fields; ValueError naming the field when wrong."""
    return InvoiceRequest(
        guarantee_no=app.baohanno or "",
        buyer_name=str(fields.get("biddername") or ""),
        buyer_code=str(fields.get("biddercode") or ""),
        amount=Decimal(str(fields.get("amount"))),
        kind=InvoiceKind(int(fields.get("type") or 0)),
        address=str(fields.get("address") or ""),
        phone=str(fields.get("phone") or ""),
        bank=str(fields.get("bank") or ""),
        account=str(fields.get("account") or ""),
    )


def invoice_url(public_url: str, token: str) -> str:
    """Where the invoice PDF of ``token`` is served."""
    return public_url.rstrip("/") + INVOICE_PATH + token


class Invoices:
    """Issue, refuse and serve the invoices of the issuer's applications."""

    def __init__(self, requests: Requests, files: FileStore, seller: Seller, public_url: str) -> None:
        if not public_url.startswith(("http://", "https://")):
            raise ValueError(f"public_url must be an http(s) URL, not {public_url!r}")
        self.requests, self.files, self.seller, self.public_url = requests, files, seller, public_url

    def issue(self, session: Session, app: TenderApplication, *, now: datetime, actor: str) -> TenderInvoice:
        """Issue the requested invoice of ``app``: numbered, drawn, kept, and given its URL."""
        pending = self.requests.requested_invoice(session, app)
        serial = next_value(session, INVOICE_COUNTER)
        issued = issue(invoice_request(app, pending.request), self.seller, serial=serial, issued_at=now)
        name = f"invoice-{issued.code}-{issued.number}.pdf"
        file_id = self.files.put(session, name, issued.pdf)
        token = secrets.token_urlsafe(32)
        invoice = self.requests.issue_invoice(
            session,
            app,
            url=invoice_url(self.public_url, token),
            code=issued.code,
            number=issued.number,
            file_id=file_id,
            now=now,
            actor=actor,
        )
        invoice.serial, invoice.token = serial, token
        return invoice

    def file(self, session: Session, token: str) -> tuple[str, bytes]:
        """The PDF (its name and bytes) of the issued invoice named by ``token``; LookupError otherwise."""
        invoice = None
        if 20 <= len(token) <= 64:
            invoice = session.scalars(
                select(TenderInvoice).where(TenderInvoice.token == token, TenderInvoice.status == "issued")
            ).first()
        if invoice is None or invoice.file_id is None:
            raise LookupError("no such invoice")
        name = self.files.info(session, invoice.file_id).name
        return name, self.files.get(session, invoice.file_id)
