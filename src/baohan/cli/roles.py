"""Checks shared by the commands that run a role (serve, dispatch): done once, before any process starts.

An operator mistake (no passphrase, a wrong one, a database that is not there) is one line and exit 2 here,
not a traceback in every worker process.
"""

from __future__ import annotations

import os
from typing import Literal

from alembic.util import CommandError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from baohan.adapters.db.engine import make_engine, make_session_factory
from baohan.adapters.db.migrate import DatabaseUnavailable, SchemaOutOfDate, check, upgrade
from baohan.adapters.keystore import KeyStoreError, SecretBox
from baohan.cli.inputs import CLIError
from baohan.services.registry import reseal_all

ROLES = ("issuer", "platform")


def check_role(role: str) -> str:
    """``role`` if it is one we serve."""
    if role not in ROLES:
        raise CLIError(f"--role must be issuer or platform, not {role!r}")
    return role


def secret_box() -> SecretBox:
    """The key store's box from $BAOHAN_KEY_PASSPHRASE."""
    try:
        return SecretBox.from_env()
    except KeyStoreError as exc:
        raise CLIError(str(exc)) from None


def backend(db: str) -> str:
    """The backend ``db`` names (sqlite, postgresql, …); CLIError when it is not a URL."""
    try:
        return make_url(db).get_backend_name()
    except ArgumentError as exc:
        raise CLIError(f"--db {db!r} is not a database URL: {exc}") from None


def where(db: str) -> str:
    """``db`` without its password, for messages."""
    try:
        return make_url(db).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def first_line(exc: BaseException) -> str:
    """The first line of a database error's cause, for a one-line message."""
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


Schema = Literal["current", "create", "migrate"]


def prepare_database(db: str, box: SecretBox, schema: Schema = "current") -> SecretBox:
    """Check the database at ``db`` and that the passphrase opens its keys; ``box`` bound to the database's
    key-encryption key. CLIError naming ``--db``, the schema or the passphrase otherwise.

    ``schema``: ``current`` (the default) needs the schema at head and changes nothing, nor makes a
    database; ``create`` also makes a database that has no schema yet (the setup commands); ``migrate``
    upgrades it to head, once, under a lock on PostgreSQL (``baohan db upgrade``, ``serve --migrate``).
    """
    try:
        if schema == "migrate":
            upgrade(db)
        else:
            check(db, create=schema == "create")
    except (DatabaseUnavailable, SchemaOutOfDate) as exc:
        raise CLIError(str(exc)) from None
    except (DBAPIError, CommandError) as exc:
        raise CLIError(f"--db {where(db)}: cannot migrate: {first_line(exc)}") from None
    except KeyStoreError as exc:  # a revision that seals or opens personal data, under the wrong passphrase
        raise CLIError(str(exc)) from None
    engine = make_engine(db)
    try:
        # Binds the passphrase to the database's KEK and re-seals old rows, once, before the workers.
        return reseal_all(make_session_factory(engine), box)
    except KeyStoreError as exc:  # a wrong passphrase for this database
        raise CLIError(str(exc)) from None
    finally:
        engine.dispose()


def env_token(name: str) -> str:
    """The admin bearer token from the environment variable ``name``; at least 16 characters."""
    token = os.environ.get(name, "")
    if len(token) < 16:
        raise CLIError(f"set {name} to a token of at least 16 characters for the admin API")
    return token
