"""Tender invoices on SQLite and PostgreSQL: revision 0015 adds the serial counter and the URL token and
takes them back; serials are taken one at a time, never twice (threads racing); an issued invoice is
numbered, drawn, kept and served only by its token."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.adapters.documents.invoice import Seller
from baohan.adapters.files import DatabaseFileStore
from baohan.domain.tender import Event
from baohan.services.tender.invoices import INVOICE_COUNTER, Invoices, invoice_request, next_value
from baohan.services.tender.requests import Requests
from baohan.services.tender.store import Applications
from tests.tender.store_fixtures import AFTER, BOX, SEALED_LINE, peers, sealed, walk

__all__ = ["peers"]

RESTORED_LINE = [*SEALED_LINE, Event.RESTORE, Event.COMPLETE_PLAIN]
SELLER = Seller("某某担保有限公司", "91330100MA2SELLER9")
ASKED = {
    "biddername": "某某建设有限公司",
    "biddercode": "91330100MA2BIDDER1",
    "amount": "4000.00",
    "type": "1",
    "address": "杭州市某路1号",
    "phone": "0571-88888888",
    "bank": "某银行杭州分行",
    "account": "6222000011112222",
}


def columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_0015_adds_the_invoice_serial_and_token_and_takes_them_back(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0014_tender")
    assert not {"serial", "token"} & columns(empty_db_url, "tender_invoices")
    migrate.upgrade(empty_db_url, "0015_tender_aftercare")
    assert {"serial", "token"} <= columns(empty_db_url, "tender_invoices")
    command.downgrade(migrate.alembic_config(empty_db_url), "0014_tender")
    assert not {"serial", "token"} & columns(empty_db_url, "tender_invoices")
    engine = make_engine(empty_db_url)
    try:
        assert "tender_counters" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    migrate.upgrade(empty_db_url)
    assert migrate.diff(empty_db_url) == []


def test_serials_are_taken_once_each_even_in_a_race(db_url: str) -> None:
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    taken: list[int] = []
    errors: list[BaseException] = []

    def take() -> None:
        try:
            for _ in range(5):
                with transaction(sessions) as session:
                    taken.append(next_value(session, INVOICE_COUNTER))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.dispose()
    assert errors == []
    assert sorted(taken) == list(range(1, 21))


def test_an_invoice_is_issued_kept_and_served_by_its_token(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    requests = Requests(issuer)
    invoices = Invoices(requests, DatabaseFileStore(), SELLER, "https://issuer.example/")
    with transaction(sessions) as session:
        app, _ = issuer.add(session, peers[0], sealed("I-1"), now=AFTER, actor="K1")
        walk(issuer, session, app, RESTORED_LINE)
        app.baohanno = "G-I-1"
        with pytest.raises(LookupError, match="no invoice requested"):
            invoices.issue(session, app, now=AFTER, actor="alice")
        requests.request_invoice(
            session, app, request=ASKED, amount=Decimal("4000.00"), now=AFTER, actor="K1"
        )
        invoice = invoices.issue(session, app, now=AFTER, actor="alice")
        assert (invoice.status, invoice.serial, invoice.invoice_no, app.stage) == (
            "issued",
            1,
            "00000001",
            "invoiced",
        )
        assert invoice.invoice_code is not None and len(invoice.invoice_code) == 12
        assert invoice.token is not None and len(invoice.token) >= 40
        assert invoice.invoice_url == f"https://issuer.example/invoices/{invoice.token}"
        token = invoice.token
    with sessions() as session:
        name, pdf = invoices.file(session, token)
        assert name == f"invoice-{invoice.invoice_code}-00000001.pdf"
        assert pdf.startswith(b"%PDF")
        for wrong in ("", token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 100):
            with pytest.raises(LookupError, match="no such invoice"):
                invoices.file(session, wrong)


def test_a_special_invoice_without_its_details_is_refused() -> None:
    class App:  # only the guarantee number is read
        baohanno = "G-1"

    with pytest.raises(ValueError, match="a 专票 \\(type 1\\) needs bank, account"):
        invoice_request(App(), {**ASKED, "bank": "", "account": None})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amount must be positive"):
        invoice_request(App(), {**ASKED, "amount": "0.00"})  # type: ignore[arg-type]


def test_public_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="public_url must be an http"):
        Invoices(Requests(Applications("issuer", BOX)), DatabaseFileStore(), SELLER, "ftp://x")
