"""``baohan counterparties …``: list, deactivate, reactivate and rotate the counterparties of a protocol.

Changes take effect in every running server and dispatcher on the same database within a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from baohan.adapters.db.engine import make_engine, make_session_factory
from baohan.cli.inputs import CLIError, Db, one_line_errors, public_key
from baohan.cli.roles import prepare_database, secret_box
from baohan.services.registry import Credentials, Registry
from baohan.services.views import counterparty_view

app = typer.Typer(
    help="Counterparties of a protocol: list, deactivate, activate, rotate.", no_args_is_help=True
)
PROTOCOLS = ("procurement", "tender")

Protocol = Annotated[str, typer.Option(help=f"One of: {', '.join(PROTOCOLS)}.")]


@contextmanager
def _registry(db: str, protocol: str) -> Iterator[Registry[Credentials]]:
    if protocol not in PROTOCOLS:
        raise CLIError(f"--protocol {protocol!r} is not one of: {', '.join(PROTOCOLS)}")
    box = prepare_database(db, secret_box())
    engine = make_engine(db)
    try:
        yield Registry(
            make_session_factory(engine), box, protocol=protocol, channel=lambda credentials: credentials
        )
    except (LookupError, ValueError) as exc:
        raise CLIError(str(exc).strip("'\"")) from None
    finally:
        engine.dispose()


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@app.command("list")
@one_line_errors
def list_(
    db: Db,
    protocol: Protocol = "procurement",
    active_only: Annotated[bool, typer.Option("--active-only", help="Leave out deactivated ones.")] = False,
) -> None:
    """The protocol's counterparties, without their secrets."""
    with _registry(db, protocol) as registry:
        _print([counterparty_view(item) for item in registry.listing(include_inactive=not active_only)])


@app.command("deactivate")
@one_line_errors
def deactivate(counterparty_id: str, db: Db, protocol: Protocol = "procurement") -> None:
    """Refuse the counterparty's requests and send it nothing more (reversible with ``activate``)."""
    with _registry(db, protocol) as registry:
        _print(counterparty_view(registry.set_active(counterparty_id, False)))


@app.command("activate")
@one_line_errors
def activate(counterparty_id: str, db: Db, protocol: Protocol = "procurement") -> None:
    """Take a deactivated counterparty back."""
    with _registry(db, protocol) as registry:
        _print(counterparty_view(registry.set_active(counterparty_id, True)))


@app.command("rotate")
@one_line_errors
def rotate(
    counterparty_id: str,
    db: Db,
    protocol: Protocol = "procurement",
    appsecret: Annotated[str | None, typer.Option(help="The new appsecret.")] = None,
    key: Annotated[
        str | None,
        typer.Option("--public-key", help="The new SM2 public key: hex, Base64 or a PEM/DER file."),
    ] = None,
    appkey: Annotated[str | None, typer.Option(help="The new appkey.")] = None,
) -> None:
    """Replace the counterparty's appsecret, public key or appkey."""
    new_key = public_key(key) if key is not None else None
    with _registry(db, protocol) as registry:
        _print(
            counterparty_view(
                registry.rotate(counterparty_id, appsecret=appsecret, public_key=new_key, appkey=appkey)
            )
        )
