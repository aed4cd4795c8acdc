"""``baohan admin …``: the people allowed into the admin API, each with a named token of their own.

A token is printed once, when made; the database keeps only its SM3 digest. The audit trail records the
operator's name for every action taken through the admin API.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from baohan.adapters.db.engine import make_engine, make_session_factory
from baohan.cli.inputs import CLIError, Db, one_line_errors
from baohan.cli.roles import prepare_database, secret_box
from baohan.services.operators import Operators
from baohan.services.views import plain

app = typer.Typer(help="Admin API operators: add, list, revoke their tokens.", no_args_is_help=True)


@contextmanager
def _operators(db: str) -> Iterator[Operators]:
    prepare_database(db, secret_box())
    engine = make_engine(db)
    try:
        yield Operators(make_session_factory(engine))
    except (LookupError, ValueError) as exc:
        raise CLIError(str(exc)) from None  # a LookupError, not a KeyError: no quotes to strip
    finally:
        engine.dispose()


@app.command("add-operator")
@one_line_errors
def add_operator(name: str, db: Db) -> None:
    """Give NAME a token for the admin API (printed once: hand it over, it cannot be shown again)."""
    with _operators(db) as operators:
        token = operators.add(name)
    typer.echo(token)


@app.command("operators")
@one_line_errors
def list_operators(db: Db) -> None:
    """The operators and when each token was made (never the tokens)."""
    with _operators(db) as operators:
        listed = [{"name": o.name, "created_at": plain(o.created_at)} for o in operators.listing()]
    typer.echo(json.dumps(listed, ensure_ascii=False, indent=2))


@app.command("revoke-operator")
@one_line_errors
def revoke_operator(name: str, db: Db) -> None:
    """Take NAME's token away at once; the audit trail keeps their past actions under their name."""
    with _operators(db) as operators:
        operators.revoke(name)
    typer.echo(f"{name}'s token revoked")
