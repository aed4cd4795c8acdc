"""What the commands that host a role share (``serve``, ``dispatch``, ``tender-issuer``): the options that
say how a role is set up, and checking and opening the roles they describe, as one-line errors.

A dispatcher delivers what the servers beside it queued and an operator's command acts on the same role,
so each takes the role's settings with the very options ``serve`` takes them with (same names, same
environment variables) and opens the roles as ``serve``'s workers do
(:func:`baohan.services.hosting.open_roles`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from baohan.adapters.keystore import SecretBox
from baohan.cli.inputs import CLIError, http_url
from baohan.services import hosting
from baohan.services.hosting import PROTOCOLS, RoleSettings
from baohan.services.procurement.role import OperatorError
from baohan.services.runtime import Runtime

LOG_LEVELS = ("debug", "info", "warning", "error")
S = TypeVar("S", bound=RoleSettings)

Role = Annotated[str, typer.Option(help="issuer or platform.")]
Also = Annotated[
    list[str] | None,
    typer.Option(
        help="Host this protocol's role too, in the same process, on the same database and dispatcher "
        "(procurement or tender)."
    ),
]
LogLevel = Annotated[
    str, typer.Option(envvar="BAOHAN_LOG_LEVEL", help="debug, info, warning or error (JSON lines on stderr).")
]
Migrate = Annotated[
    bool, typer.Option("--migrate", help="Upgrade an out-of-date schema first (else refuse to start).")
]
InstitutionName = Annotated[
    str | None,
    typer.Option(
        envvar="BAOHAN_INSTITUTION_NAME",
        help="Procurement issuer: refuse to start unless our signing certificate gives this name (the "
        "letters carry the certificate's name). Tender issuer (required): the name its agreements and "
        "guarantees carry.",
    ),
]
PublicUrl = Annotated[
    str | None,
    typer.Option(
        envvar="BAOHAN_PUBLIC_URL",
        help="Tender issuer: the protocol listener's URL as bidders reach it (the bidder page and invoice "
        "links); http://HOST:PORT by default.",
    ),
]
CreditCode = Annotated[
    str,
    typer.Option(
        envvar="BAOHAN_CREDIT_CODE",
        help="Tender issuer: our unified social credit code (统一社会信用代码), the seller on invoices.",
    ),
]
FilesDir = Annotated[
    Path | None,
    typer.Option(envvar="BAOHAN_FILES_DIR", help="Keep files in this directory instead of the database."),
]


def protocols(protocol: str, also: list[str] | None) -> tuple[str, ...]:
    """``protocol`` and those ``--also`` names, once each; CLIError for one we do not host."""
    for name in also or ():
        if name not in PROTOCOLS:
            raise CLIError(f"--also must be {' or '.join(PROTOCOLS)}, not {name!r}")
        if name == protocol:
            raise CLIError(f"--also {name}: {protocol} is served already")
    return tuple(dict.fromkeys([protocol, *(also or ())]))


def checked_level(level: str) -> str:
    """``level`` if it is one the logs take."""
    if level.lower() not in LOG_LEVELS:
        raise CLIError(f"--log-level must be debug, info, warning or error, not {level!r}")
    return level


def checked_url(value: str | None) -> str | None:
    """``--public-url`` checked, without its trailing slash."""
    return None if value is None else http_url(value, "--public-url").rstrip("/")


def check_settings(settings: S, check: Callable[[S], None] = hosting.check_roles) -> None:
    """``check`` (by default, what the hosted roles need of their settings) as one line."""
    try:
        check(settings)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def open_roles(settings: RoleSettings, box: SecretBox) -> Runtime:
    """The runtime hosting ``settings``' roles on the prepared database (never migrating it); a setting a
    role refuses is one line."""
    try:
        return hosting.open_roles(settings, box)
    except (OperatorError, ValueError) as exc:
        raise CLIError(str(exc)) from None
