"""Engines, sessions and transactions for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, Numeric, Text, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

# Explicit constraint names make hand-written migrations deterministic and let later revisions drop or
# alter constraints by name on both databases (SQLite batch mode needs the names).
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Files' chunks and upload slices (1 MiB each) are most of the bytes: 16 KiB pages store and read them in
# about 60 % of the CPU of 4 KiB ones (0006).
SQLITE_PAGE_SIZE = 16384
SQLITE_BUSY_TIMEOUT_MS = 15_000
log = logging.getLogger(__name__)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once: dumps builds one a call


class Base(DeclarativeBase):
    """Declarative base for every table of the application."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that only accepts aware datetimes and always reads back as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the database layer stores aware UTC times only")
        value = value.astimezone(UTC)
        # SQLite has no time zone type; storing UTC without offset keeps text comparisons in SQL correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactNumeric(TypeDecorator[Decimal]):
    """A ``NUMERIC(precision, scale)`` that holds ``Decimal`` exactly on both databases.

    SQLite has no decimal type: its NUMERIC affinity keeps a fraction as a binary float (REAL), and
    SQLAlchemy reads it back through a float, so ``1234567890123456.78`` came back as ``…456.75``. On
    SQLite the value is stored as the integer ``value × 10^scale`` (64-bit, exact to 18 digits);
    PostgreSQL keeps its own exact NUMERIC. A value finer than ``scale`` is refused, never rounded.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision, scale, asdecimal=True)
        self.precision, self.scale = precision, scale  # (also what the statement cache keys on)

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{value!r}: an exact decimal column takes a finite Decimal")
        # The magnitude first: scaling 1E+999999 overflows, and int() would build a million digits.
        too_big = value and value.adjusted() >= self.precision - self.scale
        scaled = None if too_big else value.scaleb(self.scale)
        whole = None if scaled is None else int(scaled)
        if whole is None or whole != scaled:
            raise ValueError(f"{value!r} does not fit NUMERIC({self.precision}, {self.scale})")
        return whole if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":  # ours alone: Numeric's own would turn the integer into a float
            return lambda value: self.process_bind_param(value, dialect)
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":  # (and Numeric's own would read it through a float)
            scale = -self.scale
            return lambda value: None if value is None else Decimal(value).scaleb(scale)
        return super().result_processor(dialect, coltype)


class JSONDocument(str):
    """Text already encoded as JSON, stored as it is by :class:`JSONText` (it reads back as the document)."""


class JSONText(TypeDecorator[Any]):
    """A JSON document stored as text (UTF-8, not ASCII-escaped), read back as Python objects."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, JSONDocument):
            return str(value)
        return _JSON.encode(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


def normalize_url(url: str) -> str:
    """``url`` with a bare ``postgresql://`` (or ``postgres://``) rewritten to use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, background_checkpoints: bool = False, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys, or PostgreSQL through psycopg 3.

    Its errors and SQL logging never show bound values (``hide_parameters``).

    ``background_checkpoints`` (servers): SQLite's WAL is copied back into the database by a thread of
    this engine instead of by whichever commit crosses the threshold, so no request waits on that fsync.
    """
    url = normalize_url(url)
    backend = make_url(url).get_backend_name()
    # Bound values (ID numbers, sealed secrets) stay out of exception text and SQL logs.
    kwargs.setdefault("hide_parameters", True)
    if backend == "sqlite":
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        checkpoints = background_checkpoints and make_url(url).database not in (None, "", ":memory:")
        _configure_sqlite(engine, checkpoints)
        if checkpoints:
            _Checkpointer(engine).start()
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")


class _Checkpointer(threading.Thread):
    """Checkpoints an engine's SQLite WAL every ``interval`` seconds (PASSIVE: never waits for readers or
    writers), until the engine is disposed or dropped."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self._engine = weakref.ref(engine)
        self._interval = interval
        self._path = str(engine.url.database)

    def run(self) -> None:
        connection = sqlite3.connect(self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            while (engine := self._engine()) is not None and not getattr(engine, "_baohan_disposed", False):
                del engine
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # busy or gone: the next round tries again
                    log.debug("WAL checkpoint skipped: %s", exc)
                time.sleep(self._interval)
        finally:
            connection.close()


def _configure_sqlite(engine: Engine, background_checkpoints: bool) -> None:
    if background_checkpoints:

        @event.listens_for(engine, "engine_disposed")
        def _on_dispose(_engine: Engine) -> None:
            engine._baohan_disposed = True  # type: ignore[attr-defined]  # ends the checkpointer

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Python 3.11's sqlite3 does not BEGIN before SELECT or DDL; we emit BEGIN ourselves (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # Takes effect only on a database not yet written (a new file, before WAL): an existing one
            # keeps its page size. Most of the bytes are files' chunks and slices (0006).
            cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough in WAL mode, much faster
            cursor.execute("PRAGMA foreign_keys=ON")
            if background_checkpoints:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes fails
        # at once with "database is locked" when another writer got in between, whatever busy_timeout says.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    # WAL is a property of the file and persists; switching needs an exclusive lock, and SQLite answers
    # "database is locked" at once, without the busy handler, when processes open a new file together.
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    give_up = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > give_up:
                raise
            time.sleep(0.01)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit (no expiry)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(session_factory: Callable[[], Session]) -> Iterator[Session]:
    """A session whose work commits when the block ends normally and rolls back when it raises."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
