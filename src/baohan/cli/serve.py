"""``baohan serve procurement``: run a role for real (protocol endpoints, admin API, outbox delivery)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from baohan.adapters.keystore import KeyStoreError, SecretBox
from baohan.cli.inputs import CLIError, one_line_errors
from baohan.domain.underwriting import rules_from_dict
from baohan.services.procurement.runtime import DEFAULT_RULES, open_runtime
from baohan.web.procurement import create_app

app = typer.Typer(help="Serve a role.", no_args_is_help=True)
ADMIN_TOKEN_ENV = "BAOHAN_ADMIN_TOKEN"  # noqa: S105 - the variable name


@app.command("procurement")
@one_line_errors
def procurement(
    role: Annotated[str, typer.Option(help="issuer or platform.")],
    db: Annotated[str, typer.Option("--db", envvar="BAOHAN_DB", help="Database URL.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8600,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    rules: Annotated[Path | None, typer.Option(help="Issuer: underwriting rules (JSON).")] = None,
    institution_name: Annotated[
        str, typer.Option(help="Issuer: our name on the letters.")
    ] = "baohan 示范担保有限公司",
    files_dir: Annotated[
        Path | None, typer.Option(help="Keep files in this directory instead of the database.")
    ] = None,
) -> None:
    """Serve the procurement ``role`` on ``host:port`` with its outbox dispatcher.

    Needs $BAOHAN_KEY_PASSPHRASE (keys at rest) and $BAOHAN_ADMIN_TOKEN (bearer token of /admin).
    """
    token = os.environ.get(ADMIN_TOKEN_ENV, "")
    if len(token) < 16:
        raise CLIError(f"set {ADMIN_TOKEN_ENV} to a token of at least 16 characters for the admin API")
    try:
        box = SecretBox.from_env()
    except KeyStoreError as exc:
        raise CLIError(str(exc)) from None
    try:
        loaded = rules_from_dict(json.loads(rules.read_text(encoding="utf-8"))) if rules else DEFAULT_RULES
    except ValueError as exc:
        raise CLIError(f"{rules}: {exc}") from None
    try:
        runtime = open_runtime(
            role, db, box, institution_name=institution_name, rules=loaded, files_dir=files_dir
        )
    except KeyStoreError as exc:  # a wrong passphrase for this database
        raise CLIError(str(exc)) from None
    uvicorn.run(create_app(runtime, admin_token=token), host=host, port=port, log_level="info")
