"""``baohan db …``: the schema of a database: where it stands, upgrading it, or the SQL for a DBA.

Only these commands (and ``serve --migrate``, ``dispatch --migrate``, and the sandbox and demo on their own
databases) change a schema; every other command refuses a database that is not at this version's head.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from baohan.adapters.db import migrate
from baohan.adapters.keystore import KeyStoreError
from baohan.cli.inputs import CLIError, Db, one_line_errors
from baohan.cli.roles import first_line, where

app = typer.Typer(help="The database schema: status, upgrade (or its SQL).", no_args_is_help=True)


@app.command("upgrade")
@one_line_errors
def upgrade(
    db: Db,
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Print the SQL from the database's revision to head instead (PostgreSQL; changes nothing).",
        ),
    ] = False,
) -> None:
    """Upgrade the schema at ``--db`` to this version's head (a new SQLite file is made), or print its SQL."""
    try:
        if sql:
            typer.echo(migrate.upgrade_sql(db), nl=False)
            return
        before = migrate.current(db) if migrate.exists(db) else None
        migrate.upgrade(db)
    except KeyStoreError as exc:  # a revision that seals personal data, under the wrong passphrase
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"--sql: {exc}") from None
    except (DBAPIError, CommandError) as exc:
        raise CLIError(f"--db {where(db)}: cannot upgrade: {first_line(exc)}") from None
    head = migrate.head()
    was = "already" if before == head else f"was {before or 'empty'}"
    typer.echo(f"{where(db)}: at {head} ({was})", err=True)


@app.command("status")
@one_line_errors
def status(db: Db) -> None:
    """Print the database's revision and this version's head; exit 1 when they differ."""
    try:
        migrate.check(db)
        up_to_date, reason = True, None
    except migrate.SchemaOutOfDate as exc:
        up_to_date, reason = False, str(exc)
    except DBAPIError as exc:
        raise CLIError(f"--db {where(db)}: {first_line(exc)}") from None
    typer.echo(
        json.dumps(
            {
                "current": migrate.current(db),
                "head": migrate.head(),
                "up_to_date": up_to_date,
                "reason": reason,
            },
            ensure_ascii=False,
        )
    )
    if not up_to_date:
        raise typer.Exit(1)
