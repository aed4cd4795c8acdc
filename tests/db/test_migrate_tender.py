"""Revision 0014_tender on SQLite and PostgreSQL: it adds the tender tables and takes them back."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine

TENDER_TABLES = {
    "tender_bid_sections",
    "tender_quotes",
    "tender_applications",
    "tender_events",
    "tender_guarantee_files",
    "tender_agreements",
    "tender_claims",
    "tender_claim_documents",
    "tender_invoices",
    "tender_quits",
    "tender_give_ups",
}


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0014_adds_the_tender_tables_and_takes_them_back(empty_db_url: str) -> None:
    below = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0014_tender").down_revision
    assert isinstance(below, str)
    migrate.upgrade(empty_db_url, below)
    before = table_names(empty_db_url)
    assert not before & TENDER_TABLES
    migrate.upgrade(empty_db_url, "0014_tender")
    assert table_names(empty_db_url) == before | TENDER_TABLES
    command.downgrade(migrate.alembic_config(empty_db_url), below)
    assert table_names(empty_db_url) == before
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
    assert migrate.diff(empty_db_url) == []
