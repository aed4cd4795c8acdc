"""``baohan serve procurement``: run a role for real (protocol endpoints, admin API, outbox delivery)."""

from __future__ import annotations

import logging
import logging.config
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from baohan.adapters.documents.letter import LetterTemplateError, check_letter_setup
from baohan.adapters.logs import log_config
from baohan.adapters.metrics import MULTIPROC_ENV
from baohan.cli.inputs import CLIError, one_line_errors
from baohan.cli.roles import backend, check_role, env_token, prepare_database, secret_box
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import open_runtime
from baohan.web.serving import listen
from baohan.web.worker import ADMIN_TOKEN_ENV, FACTORY, ServeSettings, load_rules

log = logging.getLogger("baohan.serve")

app = typer.Typer(help="Serve a role.", no_args_is_help=True)


@app.command("procurement")
@one_line_errors
def procurement(
    role: Annotated[str, typer.Option(help="issuer or platform.")],
    db: Annotated[str, typer.Option("--db", envvar="BAOHAN_DB", help="Database URL.")],
    port: Annotated[
        int, typer.Option(min=1, max=65535, envvar="BAOHAN_PORT", help="Port of the protocol endpoints.")
    ] = 8600,
    host: Annotated[
        str, typer.Option(envvar="BAOHAN_HOST", help="Interface the protocol endpoints listen on.")
    ] = "127.0.0.1",
    admin_port: Annotated[
        int, typer.Option(min=1, max=65535, envvar="BAOHAN_ADMIN_PORT", help="Port of the admin API.")
    ] = 8601,
    admin_host: Annotated[
        str,
        typer.Option(
            envvar="BAOHAN_ADMIN_HOST",
            help="Interface the admin API (and /metrics) listens on; keep it internal.",
        ),
    ] = "127.0.0.1",
    log_level: Annotated[
        str,
        typer.Option(envvar="BAOHAN_LOG_LEVEL", help="debug, info, warning or error (JSON lines on stderr)."),
    ] = "info",
    rules: Annotated[
        Path | None, typer.Option(envvar="BAOHAN_RULES", help="Issuer: underwriting rules (JSON).")
    ] = None,
    institution_name: Annotated[
        str | None,
        typer.Option(
            help="Issuer: refuse to start unless our signing certificate gives this name "
            "(the letters carry the certificate's name)."
        ),
    ] = None,
    files_dir: Annotated[
        Path | None,
        typer.Option(envvar="BAOHAN_FILES_DIR", help="Keep files in this directory instead of the database."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="BAOHAN_WORKERS",
            help="Server processes sharing the port (more than 1 needs PostgreSQL).",
        ),
    ] = 1,
    dispatch: Annotated[
        bool,
        typer.Option(
            envvar="BAOHAN_DISPATCH",
            help="Each server process also delivers the outbox (one dispatcher thread each); "
            "--no-dispatch leaves delivery to `baohan dispatch` processes.",
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

    The admin API, its docs and /metrics listen on ``admin-host:admin-port`` (loopback by default), apart
    from the protocol endpoints that counterparties reach. Needs $BAOHAN_KEY_PASSPHRASE (keys at rest) and
    $BAOHAN_ADMIN_TOKEN (bearer token of /admin). Everything is checked once before any worker starts; a
    schema that is not this version's is refused unless ``--migrate`` (or `baohan db upgrade` beforehand).
    """
    check_role(role)
    if role == "issuer":
        try:  # an issuer signs letters: a missing font or a bad template is said now, not at the first letter
            check_letter_setup()
        except LetterTemplateError as exc:
            raise CLIError(str(exc)) from None
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise CLIError(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    if admin_port == port:
        raise CLIError(
            f"--admin-port must differ from --port ({port}): the admin API has a listener of its own"
        )
    env_token(ADMIN_TOKEN_ENV)
    box = secret_box()
    try:
        load_rules(rules)
    except ValueError as exc:
        raise CLIError(f"{rules}: {exc}") from None
    if workers > 1 and backend(db) == "sqlite":
        raise CLIError("--workers > 1 needs PostgreSQL: SQLite lets one process write at a time")
    bound = prepare_database(db, box, "migrate" if migrate else "current")
    if role == "issuer" and institution_name is not None:
        try:
            open_runtime(role, db, bound, institution_name=institution_name, migrate=False).stop()
        except OperatorError as exc:
            raise CLIError(str(exc)) from None
    settings = ServeSettings(
        role=role,
        db=db,
        rules=rules.resolve() if rules else None,
        institution_name=institution_name,
        files_dir=files_dir.resolve() if files_dir else None,
        dispatch=dispatch,
        delivery_concurrency=delivery_concurrency,
        admin_port=admin_port,
    )
    sockets = [_listen(host, port, "--port"), _listen(admin_host, admin_port, "--admin-port")]
    os.environ.update(settings.to_env())  # read back by every worker process's factory
    logging.config.dictConfig(log_config(log_level))
    config = uvicorn.Config(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http="httptools",
        loop="uvloop",
        log_config=log_config(log_level),
        log_level=log_level.lower(),
        access_log=False,  # one line per request comes from the app, with the protocol's view of it
        timeout_graceful_shutdown=30,
    )
    log.info(
        "serving procurement %s: protocol on %s:%d, admin API on %s:%d, %d worker(s)",
        role,
        host,
        port,
        admin_host,
        admin_port,
        workers,
    )
    with _metrics_dir(workers):
        if workers > 1:
            Multiprocess(config, sockets=sockets).run()
            return
        server = uvicorn.Server(config)
        with suppress(KeyboardInterrupt):
            server.run(sockets=sockets)
        if not server.started:
            raise CLIError("the server did not start (its log says why)")


def _listen(host: str, port: int, option: str) -> socket.socket:
    try:
        return listen(host, port)
    except OSError as exc:
        raise CLIError(f"{option}: cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@contextmanager
def _metrics_dir(workers: int) -> Iterator[None]:
    """Several workers count into files that any of them sums when scraped (prometheus-client's
    multiprocess mode): a fresh directory for this run, or the one $PROMETHEUS_MULTIPROC_DIR names, emptied."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):  # a previous run's counts would be summed with ours
            stale.unlink()
        yield
        return
    if workers == 1:  # one process: its counts stay in memory
        yield
        return
    made = tempfile.mkdtemp(prefix="baohan-metrics-")
    os.environ[MULTIPROC_ENV] = made
    try:
        yield
    finally:
        shutil.rmtree(made, ignore_errors=True)
