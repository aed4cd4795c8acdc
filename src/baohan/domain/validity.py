"""When a guarantee is valid: its first and last moment, from the dates asked for or its term."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, tzinfo

_END_OF_DAY = time(23, 59, 59)


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` ``months`` calendar months later, on the same day or the month's last when it is shorter."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def validity(
    now: datetime, term_months: int, zone: tzinfo, start: date | None = None, end: date | None = None
) -> tuple[datetime, datetime]:
    """From the start of ``start`` (else ``now``) to the end of ``end`` (else ``term_months`` after the
    start), in ``zone``, where the dates on the letter are read."""
    valid_from = datetime.combine(start, time(), zone) if start else now.astimezone(zone)
    valid_to = datetime.combine(end, _END_OF_DAY, zone) if end else add_months(valid_from, term_months)
    return valid_from, valid_to
