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
from baohan.cli.hosting import (
    Also,
    CreditCode,
    FilesDir,
    InstitutionName,
    LogLevel,
    Migrate,
    PublicUrl,
    Role,
    check_settings,
    checked_level,
    checked_url,
    open_roles,
    protocols,
)
from baohan.cli.inputs import CLIError, Db, one_line_errors
from baohan.cli.roles import backend, check_role, env_token, prepare_database, secret_box
from baohan.services.hosting import PROTOCOLS, load_bidder_cas, load_rules
from baohan.web.serving import listen
from baohan.web.worker import ADMIN_TOKEN_ENV, FACTORY, ServeSettings, check_hosting

log = logging.getLogger("baohan.serve")

app = typer.Typer(help="Serve a role.", no_args_is_help=True)


def _command(protocol: str) -> Callable[..., None]:
    """The ``serve PROTOCOL`` command: the same options for each protocol, so that ``--also`` hosts the
    other protocol's role in the same process."""

    def serve(
        role: Role,
        db: Db,
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
        also: Also = None,
        log_level: LogLevel = "info",
        rules: Annotated[
            Path | None,
            typer.Option(envvar="BAOHAN_RULES", help="Procurement issuer: underwriting rules (JSON)."),
        ] = None,
        institution_name: InstitutionName = None,
        public_url: PublicUrl = None,
        bidder_ca: Annotated[
            list[Path] | None,
            typer.Option(
                help="Tender issuer: a CA certificate (PEM or DER) bidders' certificates must chain to; "
                "repeat for several. Without one, no bidder can sign the application agreement."
            ),
        ] = None,
        credit_code: CreditCode = "",
        files_dir: FilesDir = None,
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
        migrate: Migrate = False,
    ) -> None:
        hosted = protocols(protocol, also)
        check_role(role)
        public_url = checked_url(public_url)
        settings = ServeSettings(
            role=role,
            db=db,
            protocols=hosted,
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
    check_settings(settings, check_hosting)  # and what it needs of this machine (a font, sm-crypto): now
    log_level = checked_level(log_level)
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
    open_roles(settings, bound).stop()  # every role once, here: not a traceback in each worker
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
