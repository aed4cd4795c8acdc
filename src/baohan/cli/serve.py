"""``baohan serve procurement|tender``: run a role for real (protocol endpoints, admin API, outbox delivery).

``--also`` hosts the same role of the other protocol in the same process: an institution connected to
both kinds of platform runs one issuer, on one database, with one dispatcher (``serve procurement --role
issuer --also tender``)."""

from __future__ import annotations

import logging
import logging.config
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from baohan.adapters.logs import log_config
from baohan.adapters.metrics import MULTIPROC_ENV
from baohan.cli.inputs import CLIError, http_url, one_line_errors
from baohan.cli.roles import backend, check_role, env_token, prepare_database, secret_box
from baohan.services.procurement.role import OperatorError
from baohan.web.serving import listen
from baohan.web.worker import (
    ADMIN_TOKEN_ENV,
    FACTORY,
    PROTOCOLS,
    ServeSettings,
    check_hosting,
    load_bidder_cas,
    load_rules,
    open_hosted,
)

log = logging.getLogger("baohan.serve")

app = typer.Typer(help="Serve a role.", no_args_is_help=True)


def _command(protocol: str) -> Callable[..., None]:
    """The ``serve PROTOCOL`` command: the same options for each protocol, so that ``--also`` hosts the
    other protocol's role in the same process."""

    def serve(
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
        also: Annotated[
            list[str] | None,
            typer.Option(
                help="Host this protocol's role too, in the same process, on the same database and "
                "dispatcher (procurement or tender)."
            ),
        ] = None,
        log_level: Annotated[
            str,
            typer.Option(
                envvar="BAOHAN_LOG_LEVEL", help="debug, info, warning or error (JSON lines on stderr)."
            ),
        ] = "info",
        rules: Annotated[
            Path | None,
            typer.Option(envvar="BAOHAN_RULES", help="Procurement issuer: underwriting rules (JSON)."),
        ] = None,
        institution_name: Annotated[
            str | None,
            typer.Option(
                help="Procurement issuer: refuse to start unless our signing certificate gives this name "
                "(the letters carry the certificate's name). Tender issuer (required): the name its "
                "agreements and guarantees carry."
            ),
        ] = None,
        public_url: Annotated[
            str | None,
            typer.Option(
                envvar="BAOHAN_PUBLIC_URL",
                help="Tender issuer: the protocol listener's URL as bidders reach it (the bidder page "
                "and invoice links); http://HOST:PORT by default.",
            ),
        ] = None,
        bidder_ca: Annotated[
            list[Path] | None,
            typer.Option(
                help="Tender issuer: a CA certificate (PEM or DER) bidders' certificates must chain to; "
                "repeat for several. Without one, no bidder can sign the application agreement."
            ),
        ] = None,
        credit_code: Annotated[
            str,
            typer.Option(
                help="Tender issuer: our unified social credit code (统一社会信用代码), the seller on invoices."
            ),
        ] = "",
        files_dir: Annotated[
            Path | None,
            typer.Option(
                envvar="BAOHAN_FILES_DIR", help="Keep files in this directory instead of the database."
            ),
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
            typer.Option(
                min=1, help="Deliveries in flight per dispatcher (half at most to one destination)."
            ),
        ] = 32,
        migrate: Annotated[
            bool,
            typer.Option("--migrate", help="Upgrade an out-of-date schema first (else refuse to start)."),
        ] = False,
    ) -> None:
        protocols = _protocols(protocol, also or [])
        check_role(role)
        if public_url is not None:
            public_url = http_url(public_url, "--public-url").rstrip("/")
        settings = ServeSettings(
            role=role,
            db=db,
            protocols=protocols,
            rules=rules.resolve() if rules else None,
            institution_name=institution_name,
            files_dir=files_dir.resolve() if files_dir else None,
            dispatch=dispatch,
            delivery_concurrency=delivery_concurrency,
            admin_port=admin_port,
            public_url=public_url or f"http://{host}:{port}",
            bidder_cas=tuple(path.resolve() for path in bidder_ca or ()),
            credit_code=credit_code.strip(),
        )
        _serve(settings, host, admin_host, port, workers, log_level, migrate)

    serve.__doc__ = f"""Serve the {protocol} ``role`` (and ``--also`` another protocol's) on ``host:port`` in
    ``--workers`` processes, each with its dispatcher.

    The admin API, its docs and /metrics listen on ``admin-host:admin-port`` (loopback by default), apart
    from the protocol endpoints that counterparties reach. Needs $BAOHAN_KEY_PASSPHRASE (keys at rest) and
    $BAOHAN_ADMIN_TOKEN (bearer token of /admin). Everything is checked once before any worker starts; a
    schema that is not this version's is refused unless ``--migrate`` (or `baohan db upgrade` beforehand).
    """
    return one_line_errors(serve)


def _protocols(protocol: str, also: list[str]) -> tuple[str, ...]:
    for name in also:
        if name not in PROTOCOLS:
            raise CLIError(f"--also must be {' or '.join(PROTOCOLS)}, not {name!r}")
        if name == protocol:
            raise CLIError(f"--also {name}: {protocol} is served already")
    return tuple(dict.fromkeys([protocol, *also]))


def _serve(
    settings: ServeSettings,
    host: str,
    admin_host: str,
    port: int,
    workers: int,
    log_level: str,
    migrate: bool,
) -> None:
    role, db = settings.role, settings.db
    try:  # what a role needs of this machine (a font, sm-crypto) is said now, not at the first request
        check_hosting(settings)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise CLIError(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    if settings.admin_port == port:
        raise CLIError(
            f"--admin-port must differ from --port ({port}): the admin API has a listener of its own"
        )
    env_token(ADMIN_TOKEN_ENV)
    box = secret_box()
    try:
        load_rules(settings.rules)
    except ValueError as exc:
        raise CLIError(f"{settings.rules}: {exc}") from None
    try:
        load_bidder_cas(settings.bidder_cas)
    except OSError as exc:
        raise CLIError(f"--bidder-ca: cannot read {exc.filename}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CLIError(f"--bidder-ca: {exc}") from None
    if workers > 1 and backend(db) == "sqlite":
        raise CLIError("--workers > 1 needs PostgreSQL: SQLite lets one process write at a time")
    bound = prepare_database(db, box, "migrate" if migrate else "current")
    try:  # every role once, here: a setting a role refuses is one line, not a traceback in each worker
        open_hosted(settings, bound).stop()
    except (OperatorError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    sockets = [_listen(host, port, "--port"), _listen(admin_host, settings.admin_port, "--admin-port")]
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
        "serving %s %s: protocol on %s:%d, admin API on %s:%d, %d worker(s)",
        " and ".join(settings.protocols),
        role,
        host,
        port,
        admin_host,
        settings.admin_port,
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


for _name in PROTOCOLS:
    app.command(_name)(_command(_name))


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
