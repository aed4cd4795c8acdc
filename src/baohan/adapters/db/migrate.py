"""Schema migrations without an alembic.ini: ``upgrade(url)`` to head, ``current(url)``, ``head()``, ``diff(url)``."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

import baohan.adapters
from baohan.adapters.db.engine import Base, make_engine

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


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (head by default); a no-op when it is there.

    DatabaseUnavailable when the URL is not one, or the database cannot be opened.
    """
    try:
        engine = make_engine(url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"database URL {url!r} is not one (sqlite:///path/to/file.db or postgresql://user@host/db)"
        ) from None
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


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def current(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None when it was never migrated."""
    engine = make_engine(url)
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
