"""Records as plain JSON-ready dicts, the way operators see them (admin API and CLI alike), and the paged,
filtered listings both show."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.outbox import OutboxMessage, OutboxStatus
from baohan.services.registry import Listing

# What operators read: Beijing time, the zone of the wire and of the letter (a fixed offset, so every time
# shows +08:00 whatever the host's zone database says).
OPERATOR_ZONE = timezone(timedelta(hours=8), "Asia/Shanghai")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
MAX_LIMIT = 1000


def plain(value: Any) -> Any:
    """``value`` fit for JSON: money as a string (two decimals when it has them), times ISO 8601 in Beijing
    time (``+08:00``)."""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    if isinstance(value, datetime):
        return value.astimezone(OPERATOR_ZONE).isoformat()
    return value


def view(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The attributes ``names`` of ``record``, each made :func:`plain`."""
    return {name: plain(getattr(record, name)) for name in names}


@dataclass(frozen=True)
class Window:
    """Which part of a listing to show: at most ``limit`` items after the first ``offset``."""

    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if self.offset < 0:
            raise ValueError("offset must not be negative")


@dataclass(frozen=True)
class Period:
    """Created at or after ``since`` and before ``until`` (aware times; either may be open)."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must carry a time zone")

    @classmethod
    def parse(cls, created_from: str | None, created_to: str | None) -> Period:
        """The period operators give as text (admin API and CLI alike): each end a date (a whole Beijing
        day) or an ISO 8601 time with zone; ValueError naming the end otherwise."""
        return cls(_moment("created_from", created_from, False), _moment("created_to", created_to, True))

    def where(self, column: Any) -> list[ColumnElement[bool]]:
        """The conditions on ``column`` that keep this period."""
        conditions: list[ColumnElement[bool]] = []
        if self.since is not None:
            conditions.append(column >= self.since)
        if self.until is not None:
            conditions.append(column < self.until)
        return conditions


def _moment(name: str, text: str | None, end_of_day: bool) -> datetime | None:
    if text is None:
        return None
    try:  # a NUL, full-width digits or any other stray character fails both parses
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text) + timedelta(days=1 if end_of_day else 0)
            return datetime(day.year, day.month, day.day, tzinfo=OPERATOR_ZONE)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{name}: {text!r} is neither a date nor an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"{name}: a time needs its zone, e.g. 2026-11-30T09:00:00+08:00")
    return moment


@dataclass(frozen=True)
class Page:
    """One window of a listing: its items, and how many the whole listing holds."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    def plain(self) -> dict[str, Any]:
        """The page as JSON (the CLI's shape; the admin API's too)."""
        return {"items": self.items, "total": self.total, "limit": self.limit, "offset": self.offset}


def paged(
    session: Session,
    query: Select[*tuple[Any, ...]],
    window: Window,
    row_view: Callable[[Any], dict[str, Any]],
) -> Page:
    """``window`` of ``query``'s rows, each shown by ``row_view``, with the count of all of them."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.execute(query.limit(window.limit).offset(window.offset)).all()
    return Page([row_view(row) for row in rows], total, window.limit, window.offset)


def counterparty_view(listing: Listing) -> dict[str, Any]:
    """A counterparty as operators see it (admin API and CLI alike): no secret."""
    return view(listing, tuple(Listing.__dataclass_fields__))


def counterparty_page(listings: Sequence[Listing], window: Window) -> Page:
    """``window`` of a protocol's counterparties (few enough to page in memory)."""
    chosen = listings[window.offset : window.offset + window.limit]
    return Page([counterparty_view(item) for item in chosen], len(listings), window.limit, window.offset)


def dead_letter_view(message: OutboxMessage) -> dict[str, Any]:
    """A dead letter as operators see it: what, to whom, how often tried, and the last refusal or error."""
    return view(message, ("id", "kind", "destination", "attempts", "last_error", "created_at"))


def dead_letters(
    sessions: sessionmaker[Session],
    window: Window,
    *,
    destination: str | None = None,
    kind: str | None = None,
    period: Period = Period(),
) -> Page:
    """Dead letters, oldest first, optionally to one destination, of one kind, created in ``period``."""
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)
    if destination is not None:
        query = query.where(OutboxMessage.destination == destination)
    if kind is not None:
        query = query.where(OutboxMessage.kind == kind)
    query = query.where(*period.where(OutboxMessage.created_at)).order_by(
        OutboxMessage.created_at, OutboxMessage.id
    )
    with sessions() as session:
        return paged(session, query, window, lambda row: dead_letter_view(row[0]))
