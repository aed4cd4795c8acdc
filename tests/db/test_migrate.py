"""Migrations and the engine on SQLite and PostgreSQL: upgrade, idempotence, models agree with revisions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, MetaData, Table, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from baohan.adapters import outbox  # its tables join Base.metadata
from baohan.adapters.db import migrate
from baohan.adapters.db.engine import (
    Base,
    UTCDateTime,
    make_engine,
    make_session_factory,
    normalize_url,
    transaction,
)
from baohan.adapters.db.tables import Switch
from baohan.gm import sm3_hex
from tests.db.postgres import PostgresCluster, PostgresUnavailable, start_cluster

OUTBOX_TABLES = {"outbox_messages", "outbox_attempts"}


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_tables_and_current_reports_head(empty_db_url: str) -> None:
    assert table_names(empty_db_url) == set()
    assert migrate.current(empty_db_url) is None
    migrate.upgrade(empty_db_url)
    assert OUTBOX_TABLES | {"alembic_version"} <= table_names(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()


def test_upgrade_twice_is_a_no_op(db_url: str) -> None:
    before = table_names(db_url)
    migrate.upgrade(db_url)
    assert table_names(db_url) == before
    assert migrate.current(db_url) == migrate.head()
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
    finally:
        engine.dispose()


def test_processes_starting_together_migrate_once(empty_db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(empty_db_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert migrate.current(empty_db_url) == migrate.head()


def test_the_models_match_the_migrations(db_url: str) -> None:
    assert migrate.diff(db_url) == []
    assert set(Base.metadata.tables) >= OUTBOX_TABLES


def test_a_plain_postgresql_url_uses_psycopg_3() -> None:
    assert (
        normalize_url("postgresql://u:p%40ss@db:5432/baohan")
        == "postgresql+psycopg://u:p%40ss@db:5432/baohan"
    )
    assert normalize_url("postgres://u@db/baohan") == "postgresql+psycopg://u@db/baohan"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    assert make_engine("postgresql://u@db/baohan").dialect.driver == "psycopg"
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql://u@db/baohan")


def test_migrate_accepts_a_plain_postgresql_url(postgres_cluster: PostgresCluster) -> None:
    name = postgres_cluster.create_database()
    try:
        plain = postgres_cluster.url(name).replace("postgresql+psycopg://", "postgresql://")
        migrate.upgrade(plain)
        assert migrate.current(plain) == migrate.head()
    finally:
        postgres_cluster.drop_database(name)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pragma.db")
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert connection.scalar(text("PRAGMA foreign_keys")) == 1
            assert connection.scalar(text("PRAGMA busy_timeout")) >= 5000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(db_url: str) -> None:
    sessions = make_session_factory(engine := make_engine(db_url))
    try:
        now = datetime.now(UTC)
        with pytest.raises(IntegrityError), transaction(sessions) as session:
            session.add(outbox.OutboxAttempt(id="a1", message_id="missing", number=1, started_at=now))
    finally:
        engine.dispose()


def test_transaction_commits_or_rolls_back_and_times_read_back_as_utc(tmp_path: Path) -> None:
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime))
    engine = make_engine(f"sqlite:///{tmp_path}/t.db")
    metadata.create_all(engine)
    sessions = make_session_factory(engine)
    try:
        shanghai = datetime(2024, 5, 1, 16, 0, tzinfo=timezone(timedelta(hours=8)))
        with transaction(sessions) as session:
            session.execute(table.insert().values(id=1, at=shanghai))

        def insert_then_fail() -> None:
            with transaction(sessions) as session:
                session.execute(table.insert().values(id=2, at=shanghai))
                raise KeyError("boom")

        with pytest.raises(KeyError):
            insert_then_fail()
        with sessions() as session:
            rows = session.execute(select(table.c.id, table.c.at)).all()
        assert rows == [(1, datetime(2024, 5, 1, 8, 0, tzinfo=UTC))]
        assert rows[0].at.tzinfo is UTC
        with pytest.raises(StatementError, match="naive datetime"), transaction(sessions) as session:
            session.execute(table.insert().values(id=3, at=datetime(2024, 5, 1, 8, 0)))
    finally:
        engine.dispose()


def test_a_missing_server_is_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match=r"binaries missing .*initdb, pg_ctl, postgres, pg_isready"):
        start_cluster(tmp_path)


def test_0007_adds_the_key_encryption_keys_and_takes_them_back(empty_db_url: str) -> None:
    below = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0007").down_revision
    assert isinstance(below, str)
    migrate.upgrade(empty_db_url, below)
    assert "key_encryption_keys" not in table_names(empty_db_url)
    migrate.upgrade(empty_db_url, "0007")
    assert "key_encryption_keys" in table_names(empty_db_url)
    command.downgrade(migrate.alembic_config(empty_db_url), below)
    assert "key_encryption_keys" not in table_names(empty_db_url)
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()


def test_a_database_error_does_not_show_the_bound_values(db_url: str) -> None:
    planted = "110101199003071234"  # an ID number, say
    for hide, shown in ((None, False), (False, True)):  # the default, and what it keeps out
        engine = make_engine(db_url) if hide is None else make_engine(db_url, hide_parameters=hide)
        sessions = make_session_factory(engine)
        try:
            with transaction(sessions) as session:
                session.merge(Switch(name="dup", value="on"))
            with pytest.raises(IntegrityError) as caught, transaction(sessions) as session:
                session.add(Switch(name="dup", value=planted))
            assert (planted in str(caught.value)) is shown
        finally:
            with transaction(sessions) as session:
                session.execute(text("DELETE FROM switches"))
            engine.dispose()


def test_0013_adds_the_admin_operators_and_takes_them_back(empty_db_url: str) -> None:
    below = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0013").down_revision
    assert isinstance(below, str)
    migrate.upgrade(empty_db_url, below)
    assert "admin_operators" not in table_names(empty_db_url)
    migrate.upgrade(empty_db_url, "0013")
    assert "admin_operators" in table_names(empty_db_url)
    command.downgrade(migrate.alembic_config(empty_db_url), below)
    assert "admin_operators" not in table_names(empty_db_url)
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()


def test_check_reads_and_never_changes_the_schema(empty_db_url: str) -> None:
    with pytest.raises((migrate.SchemaOutOfDate, migrate.DatabaseUnavailable), match="baohan db upgrade"):
        migrate.check(empty_db_url)
    assert not migrate.exists(empty_db_url) or table_names(empty_db_url) == set()
    migrate.check(empty_db_url, create=True)  # a database with no schema yet is made
    assert migrate.current(empty_db_url) == migrate.head()
    migrate.check(empty_db_url)
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:  # as if a newer baohan had migrated it
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    for create in (False, True):
        with pytest.raises(migrate.SchemaOutOfDate, match="newer than this baohan knows"):
            migrate.check(empty_db_url, create=create)
    assert migrate.current(empty_db_url) == "9999"


def test_0016_drops_the_slices_sm3_and_gives_it_back(empty_db_url: str) -> None:
    below = (
        ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0016_slice_digest").down_revision
    )
    assert isinstance(below, str)
    migrate.upgrade(empty_db_url, below)
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO file_uploads (id, name, created_at) VALUES ('u1', 'guarantee.pdf', :at)"),
                {"at": datetime(2026, 11, 30, tzinfo=UTC)},
            )
            connection.execute(
                text(
                    "INSERT INTO file_upload_slices (upload_id, number, size, sm3, data) "
                    "VALUES ('u1', 1, 3, :sm3, :data)"
                ),
                {"sm3": sm3_hex(b"abc"), "data": b"abc"},
            )
        migrate.upgrade(empty_db_url, "0016_slice_digest")
        columns = {c["name"] for c in inspect(engine).get_columns("file_upload_slices")}
        assert "sm3" not in columns and "data" in columns
        command.downgrade(migrate.alembic_config(empty_db_url), below)
        with engine.connect() as connection:
            held = connection.execute(text("SELECT sm3, data FROM file_upload_slices")).one()
        assert held.sm3 == sm3_hex(b"abc") and bytes(held.data) == b"abc"
        nullable = {c["name"]: c["nullable"] for c in inspect(engine).get_columns("file_upload_slices")}
        assert nullable["sm3"] is False
    finally:
        engine.dispose()
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
