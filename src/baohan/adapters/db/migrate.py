"""Schema migrations without an alembic.ini: ``upgrade(url)`` to head (or its SQL, ``upgrade_sql``),
``check(url)`` that a database is at head without changing it, ``current(url)``, ``head()``, ``diff(url)``."""

from __future__ import annotations

import importlib
import io
import pkgutil
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

import baohan.adapters
from baohan.adapters.db.engine import Base, make_engine, normalize_url

MIGRATIONS = Path(__file__).resolve().with_name("migrations")

# Any constant works; it only has to be the same in every process that migrates this database.
_PG_MIGRATION_LOCK = 0x62616F68616E


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at our migrations (and at ``url`` for offline or CLI use)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation
    return cfg


class DatabaseUnavailable(ConnectionError):
    """The database URL does not parse, or its server cannot be reached; the message says which, in a line."""


class SchemaOutOfDate(RuntimeError):
    """The database's schema is not the one this code needs (older, newer, or none); the message says
    which and what to run, in a line."""


def _engine(url: str) -> Engine:
    try:
        return make_engine(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"database URL {url!r} is not one (sqlite:///path/to/file.db or postgresql://user@host/db)"
        ) from None
    except ValueError as exc:  # a backend we do not run on
        raise DatabaseUnavailable(str(exc)) from None


def _missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file ``url`` names when it does not exist (connecting would create it)."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or parsed.query.get("uri")
        or parsed.database in (None, "", ":memory:")
    ):
        return None
    path = Path(parsed.database or "")
    return None if path.exists() else str(path)


def exists(url: str) -> bool:
    """False when ``url`` names an SQLite file that is not there (opening it would create it)."""
    return _missing_sqlite_file(url) is None


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (head by default); a no-op when it is there.

    DatabaseUnavailable when the URL is not one, or the database cannot be opened.
    """
    engine = _engine(url)
    _check_reachable(url, engine)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes may start at once against one database; let one migrate at a time.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _check_reachable(url: str, engine: Engine) -> None:
    try:
        engine.connect().close()
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        engine.dispose()
        raise DatabaseUnavailable(f"cannot open the database at {_safe(url)}: {reason}") from None


def check(url: str, *, create: bool = False) -> None:
    """Nothing when the database at ``url`` is at :func:`head`; it is only read, never created or changed,
    except with ``create``: a database with no schema yet (a new SQLite file, an empty PostgreSQL
    database) is then made and migrated to head.

    DatabaseUnavailable when the URL is not one, the SQLite file does not exist, or nothing answers;
    SchemaOutOfDate when its schema is older, newer or absent, naming what to run.
    """
    engine = _engine(url)
    try:
        missing = _missing_sqlite_file(url)
        if missing is not None and not create:
            raise DatabaseUnavailable(
                f"no database at {missing}: check --db (a new one is made by `baohan db upgrade`)"
            )
        _check_reachable(url, engine)
        with engine.connect() as connection:
            found = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    wanted = head()
    if found == wanted:
        return
    if found is None and create:
        upgrade(url)
        return
    upgrade_hint = f"run `baohan db upgrade --db {_safe(url)}`"
    if found is None:
        raise SchemaOutOfDate(f"the database at {_safe(url)} has no baohan tables: {upgrade_hint}")
    if not _known(found):
        raise SchemaOutOfDate(
            f"the database at {_safe(url)} is at revision {found}, newer than this baohan knows ({wanted}): "
            "upgrade baohan"
        )
    raise SchemaOutOfDate(
        f"the database at {_safe(url)} is at revision {found}, this baohan needs {wanted}: {upgrade_hint}"
    )


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except (RevisionError, CommandError):  # (ScriptDirectory wraps the former in the latter)
        return False


def upgrade_sql(url: str, revision: str = "head") -> str:
    """The SQL that brings the database at ``url`` from its current revision up to ``revision``, for a DBA
    to review and run (Alembic's offline mode); the database is only read. PostgreSQL only: SQLite's
    table rebuilds need the live table, and its file is upgraded in place by :func:`upgrade`.
    """
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError("the SQL is printed for PostgreSQL; upgrade an SQLite file in place")
    found = current(url)
    buffer = io.StringIO()
    cfg = alembic_config(normalize_url(url))
    cfg.output_buffer = buffer
    command.upgrade(cfg, f"{found}:{revision}" if found else revision, sql=True)
    return buffer.getvalue()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    """The newest revision shipped with this code."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {heads}")
    return heads[0]


def load_models() -> MetaData:
    """Import every module of ``baohan.adapters`` so all tables are on ``Base.metadata``; that metadata."""
    for module in pkgutil.walk_packages(baohan.adapters.__path__, "baohan.adapters."):
        if not module.name.startswith(__package__ + ".migrations"):
            importlib.import_module(module.name)
    return Base.metadata


def diff(url: str) -> list[Any]:
    """What Alembic finds different between the models and the database at ``url`` (empty when in step)."""
    metadata = load_models()
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()
