"""``baohan dispatch procurement|tender``: deliver a role's outbox in a process of its own, beside the servers.

Any number of these (and of servers with dispatching on) compete for one database's outbox; on PostgreSQL
each claim skips the rows another holds. SIGTERM or SIGINT stops claiming and waits for the deliveries in
flight to be recorded.

A dispatcher claims only the notices of the roles it hosts; give it the roles the servers beside it host
(``--also`` as ``serve`` has it), with the same settings, or another protocol's notices wait for a process
that hosts that protocol.
"""

from __future__ import annotations

import logging
import logging.config
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from baohan.adapters.keystore import SecretBox
from baohan.adapters.logs import log_config
from baohan.adapters.metrics import OutboxCollector, serve_metrics
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
from baohan.cli.roles import check_role, prepare_database, secret_box, where
from baohan.services.hosting import PROTOCOLS, RoleSettings
from baohan.services.runtime import Runtime

log = logging.getLogger("baohan.dispatch")
app = typer.Typer(help="Deliver a role's outbox without serving it.", no_args_is_help=True)

Concurrency = Annotated[int, typer.Option(min=1, help="Deliveries in flight at once.")]
IdleSleep = Annotated[
    float, typer.Option(min=0.01, help="Seconds between looks at the outbox when nothing is due.")
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=65535,
        envvar="BAOHAN_METRICS_PORT",
        help="Serve /metrics (delivery attempts, outbox backlog) on this port; none by default.",
    ),
]
MetricsHost = Annotated[
    str, typer.Option(envvar="BAOHAN_METRICS_HOST", help="Interface /metrics listens on.")
]


def deliver(
    what: str,
    db: str,
    opener: Callable[[SecretBox], Runtime],
    *,
    idle_sleep: float,
    metrics: tuple[str, int] | None,
    level: str,
    migrate: bool,
    concurrency: int,
) -> None:
    """Deliver the outbox at ``db`` of the runtime ``opener`` opens (``what`` it hosts, for the log) until
    SIGTERM or SIGINT; the schema checked first (upgraded if ``migrate``), /metrics on ``metrics`` if given."""
    box = prepare_database(db, secret_box(), "migrate" if migrate else "current")
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime = opener(box)
    if metrics is not None:
        host, port = metrics
        try:
            serve_metrics(host, port, [OutboxCollector(runtime.backlog)])
        except OSError as exc:
            runtime.stop()
            raise CLIError(f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    logging.config.dictConfig(log_config(level))
    runtime.start(idle_sleep)
    log.info("dispatching the %s outbox of %s, %d at once", what, where(db), concurrency)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        runtime.stop()  # stops claiming, waits for the deliveries in flight, records them
    log.info("dispatcher stopped")


def _command(protocol: str) -> Callable[..., None]:
    """The ``dispatch PROTOCOL`` command: the same options for each protocol, and the role settings
    ``serve`` takes."""

    def dispatch(
        role: Role,
        db: Db,
        concurrency: Concurrency = 32,
        idle_sleep: IdleSleep = 0.2,
        metrics_port: MetricsPort = None,
        metrics_host: MetricsHost = "127.0.0.1",
        log_level: LogLevel = "info",
        migrate: Migrate = False,
        also: Also = None,
        institution_name: InstitutionName = None,
        public_url: PublicUrl = None,
        credit_code: CreditCode = "",
        files_dir: FilesDir = None,
    ) -> None:
        settings = RoleSettings(
            role=check_role(role),
            db=db,
            protocols=protocols(protocol, also),
            institution_name=institution_name,
            files_dir=files_dir.resolve() if files_dir else None,
            delivery_concurrency=concurrency,
            public_url=checked_url(public_url),
            credit_code=credit_code.strip(),
        )
        level = checked_level(log_level)
        check_settings(settings)
        deliver(
            f"{' and '.join(settings.protocols)} {role}",
            db,
            lambda box: open_roles(settings, box),
            idle_sleep=idle_sleep,
            metrics=None if metrics_port is None else (metrics_host, metrics_port),
            level=level,
            migrate=migrate,
            concurrency=concurrency,
        )

    dispatch.__doc__ = f"""Deliver the {protocol} ``role``'s outbox (and ``--also`` another protocol's) at
    ``--db`` until SIGTERM or SIGINT.

    Needs $BAOHAN_KEY_PASSPHRASE (the keys that sign the notices), and the role settings its servers have
    (the tender issuer's --institution-name and --credit-code, --files-dir).
    """
    return one_line_errors(dispatch)


for _name in PROTOCOLS:
    app.command(_name)(_command(_name))
