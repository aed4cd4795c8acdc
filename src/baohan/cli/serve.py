"""``baohan serve procurement``: run a role for real (protocol endpoints, admin API, outbox delivery)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from baohan.cli.inputs import CLIError, one_line_errors
from baohan.cli.roles import backend, check_port, check_role, env_token, prepare_database, secret_box
from baohan.web.worker import ADMIN_TOKEN_ENV, DEFAULT_INSTITUTION_NAME, FACTORY, ServeSettings, load_rules

app = typer.Typer(help="Serve a role.", no_args_is_help=True)


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
    ] = DEFAULT_INSTITUTION_NAME,
    files_dir: Annotated[
        Path | None, typer.Option(help="Keep files in this directory instead of the database.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes sharing the port (more than 1 needs PostgreSQL).")
    ] = 1,
    dispatch: Annotated[
        bool,
        typer.Option(
            help="Each server process also delivers the outbox (one dispatcher thread each); "
            "--no-dispatch leaves delivery to `baohan dispatch` processes."
        ),
    ] = True,
    delivery_concurrency: Annotated[
        int,
        typer.Option(min=1, help="Deliveries in flight per dispatcher (half at most to one destination)."),
    ] = 32,
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Upgrade an out-of-date schema first (else refuse to start).")
    ] = False,
) -> None:
    """Serve the procurement ``role`` on ``host:port`` in ``--workers`` processes, each with its dispatcher.

    Needs $BAOHAN_KEY_PASSPHRASE (keys at rest) and $BAOHAN_ADMIN_TOKEN (bearer token of /admin). Everything
    is checked once before any worker starts; a schema that is not this version's is refused unless
    ``--migrate`` (or `baohan db upgrade` beforehand).
    """
    check_role(role)
    env_token(ADMIN_TOKEN_ENV)
    box = secret_box()
    try:
        load_rules(rules)
    except ValueError as exc:
        raise CLIError(f"{rules}: {exc}") from None
    if workers > 1 and backend(db) == "sqlite":
        raise CLIError("--workers > 1 needs PostgreSQL: SQLite lets one process write at a time")
    prepare_database(db, box, "migrate" if migrate else "current")
    check_port(host, port)
    settings = ServeSettings(
        role=role,
        db=db,
        rules=rules.resolve() if rules else None,
        institution_name=institution_name,
        files_dir=files_dir.resolve() if files_dir else None,
        dispatch=dispatch,
        delivery_concurrency=delivery_concurrency,
    )
    os.environ.update(settings.to_env())  # read back by every worker process's factory
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http="httptools",
        loop="uvloop",
        log_level="info",
        timeout_graceful_shutdown=30,
    )
