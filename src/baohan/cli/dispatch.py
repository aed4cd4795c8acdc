"""``baohan dispatch procurement``: deliver a role's outbox in a process of its own, beside the servers.

Any number of these (and of servers with dispatching on) compete for one database's outbox; on PostgreSQL
each claim skips the rows another holds. SIGTERM or SIGINT stops claiming and waits for the deliveries in
flight to be recorded.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from baohan.cli.inputs import one_line_errors
from baohan.cli.roles import check_role, prepare_database, secret_box, where
from baohan.services.procurement.runtime import open_runtime

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
    migrate: Annotated[
        bool, typer.Option("--migrate", help="Upgrade an out-of-date schema first (else refuse to start).")
    ] = False,
) -> None:
    """Deliver the procurement ``role``'s outbox at ``--db`` until SIGTERM or SIGINT.

    Needs $BAOHAN_KEY_PASSPHRASE (the keys that sign the notices).
    """
    check_role(role)
    box = secret_box()
    prepare_database(db, box, "migrate" if migrate else "current")
    stop = threading.Event()

    def on_signal(signum: int, _: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime = open_runtime(role, db, box, migrate=False, delivery_concurrency=concurrency)
    runtime.start(idle_sleep)
    typer.echo(f"dispatching the {role} outbox of {where(db)}, {concurrency} at once", err=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        runtime.stop()  # stops claiming, waits for the deliveries in flight, records them
    typer.echo("dispatcher stopped", err=True)
