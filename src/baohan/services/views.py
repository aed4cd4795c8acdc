"""Records as plain JSON-ready dicts, the way operators see them (admin API and CLI alike)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from baohan.adapters.outbox import OutboxMessage
from baohan.services.registry import Listing


def plain(value: Any) -> Any:
    """``value`` fit for JSON: money as a string (two decimals when it has them), times ISO 8601 with zone."""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def view(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The attributes ``names`` of ``record``, each made :func:`plain`."""
    return {name: plain(getattr(record, name)) for name in names}


def counterparty_view(listing: Listing) -> dict[str, Any]:
    """A counterparty as operators see it (admin API and CLI alike): no secret."""
    return view(listing, tuple(Listing.__dataclass_fields__))


def dead_letter_view(message: OutboxMessage) -> dict[str, Any]:
    """A dead letter as operators see it: what, to whom, how often tried, and the last refusal or error."""
    return view(message, ("id", "kind", "destination", "attempts", "last_error", "created_at"))
