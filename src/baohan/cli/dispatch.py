"""``baohan dispatch procurement``: deliver a role's outbox in a process of its own, beside the servers.

Any number of these (and of servers with dispatching on) compete for one database's outbox; on PostgreSQL
each claim skips the rows another holds. SIGTERM or SIGINT stops claiming and waits for the deliveries in
flight to be recorded.
"""

from __future__ import annotations

import logging
import logging.config
import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from baohan.adapters.logs import log_config
from baohan.adapters.metrics import OutboxCollector, serve_metrics
from baohan.cli.inputs import CLIError, one_line_errors
from baohan.cli.roles import check_role, prepare_database, secret_box, where
from baohan.services.procurement.runtime import open_runtime

log = logging.getLogger("baohan.dispatch")
app = typer.Typer(help="Deliver a role's outbox without serving it.", no_args_is_help=True)


@app.command("procurement")
@one_line_errors
def procurement(
    role: Annotated[str, typer.Option(help="issuer or platform.")],
    db: Annotated[str, typer.Option("--db", envvar="BAOHAN_DB", help="Database URL.")],
    concurrency: Annotated[int, typer.Option(min=1, help="Deliveries in flight at once.")] = 32,
    idle_sleep: Annotated[
        float, typer.Option(min=0.01, help="Seconds between looks at the outbox when nothing is due.")
    ] = 0.2,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            envvar="BAOHAN_METRICS_PORT",
            help="Serve /metrics (delivery attempts, outbox backlog) on this port; none by default.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(envvar="BAOHAN_METRICS_HOST", help="Interface /metrics listens on.")
    ] = "127.0.0.1",
    log_level: Annotated[
        str,
        typer.Option(envvar="BAOHAN_LOG_LEVEL", help="debug, info, warning or error (JSON lines on stderr)."),
    ] = "info",
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Upgrade an out-of-date schema first (else refuse to start).")
    ] = False,
) -> None:
    """Deliver the procurement ``role``'s outbox at ``--db`` until SIGTERM or SIGINT.

    Needs $BAOHAN_KEY_PASSPHRASE (the keys that sign the notices).
    """
    check_role(role)
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        raise CLIError(f"--log-level must be debug, info, warning or error, not {log_level!r}")
    box = secret_box()
    prepare_database(db, box, "migrate" if migrate else "current")
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime = open_runtime(role, db, box, migrate=False, delivery_concurrency=concurrency)
    if metrics_port is not None:
        try:
            serve_metrics(metrics_host, metrics_port, [OutboxCollector(runtime.runtime.backlog)])
        except OSError as exc:
            runtime.stop()
            raise CLIError(
                f"--metrics-port: cannot listen on {metrics_host}:{metrics_port}: {exc.strerror or exc}"
            ) from None
    logging.config.dictConfig(log_config(log_level))
    runtime.start(idle_sleep)
    log.info("dispatching the %s outbox of %s, %d at once", role, where(db), concurrency)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        runtime.stop()  # stops claiming, waits for the deliveries in flight, records them
    log.info("dispatcher stopped")
