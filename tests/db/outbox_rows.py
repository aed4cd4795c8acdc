"""A busy outbox, fast: many pending messages and a long history of delivered ones (tests and bench/claim.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from baohan.adapters.db.bulk import insert_many
from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.outbox import OutboxMessage, OutboxStatus, message_values

_BATCH = 20_000


def fill_outbox(
    sessions: Callable[[], Session], pending: int, delivered: int, *, aggregates: int = 5000, first: int = 0
) -> None:
    """``pending`` due ELY102s to 7 destinations, then ``delivered`` old ones, spread over ``aggregates``
    applications; messages are numbered from ``first``, so successive calls add new ones."""
    now = utcnow() - timedelta(minutes=1)
    total = first + pending + delivered
    for start in range(first, total, _BATCH):
        rows = []
        for n in range(start, min(start + _BATCH, total)):
            row = message_values(
                destination=f"platform-{n % 7}",
                kind="ELY102",
                payload={"n": n},
                aggregate=f"app-{n % aggregates}",
                now=now,
            )
            if n >= first + pending:
                row.update(status=OutboxStatus.DELIVERED, delivered_at=now)
            rows.append(row)
        with transaction(sessions) as session:
            insert_many(session.connection(), OutboxMessage.__table__, rows)
