"""Validity: the dates asked for, read in the letter's zone, or the term counted in calendar months."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.validity import add_months, validity

SHANGHAI = timezone(timedelta(hours=8))
MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(SHANGHAI)
)
TERMS = st.integers(min_value=0, max_value=120)


@given(moment=MOMENTS, months=TERMS)
def test_add_months_keeps_the_day_or_takes_the_months_last(moment: datetime, months: int) -> None:
    later = add_months(moment, months)
    assert (later.year - moment.year) * 12 + later.month - moment.month == months
    assert later.day == min(moment.day, calendar.monthrange(later.year, later.month)[1])
    assert later.timetz() == moment.timetz()


def test_add_months_across_the_year_and_into_february() -> None:
    assert add_months(datetime(2025, 11, 30, tzinfo=SHANGHAI), 3) == datetime(2026, 2, 28, tzinfo=SHANGHAI)
    assert add_months(datetime(2023, 8, 31, tzinfo=SHANGHAI), 6) == datetime(2024, 2, 29, tzinfo=SHANGHAI)
    assert add_months(datetime(2099, 12, 31, tzinfo=SHANGHAI), 2) == datetime(2100, 2, 28, tzinfo=SHANGHAI)


@given(now=MOMENTS.map(lambda m: m.astimezone(UTC)), months=st.integers(min_value=1, max_value=120))
def test_without_dates_the_guarantee_runs_from_now_for_its_term(now: datetime, months: int) -> None:
    start, end = validity(now, months, SHANGHAI)
    assert start == now and start.utcoffset() == timedelta(hours=8)
    assert end == add_months(start, months) and end > start


@given(
    now=MOMENTS,
    first=st.dates(date(2000, 1, 1), date(2200, 1, 1)),
    days=st.integers(min_value=0, max_value=3650),
)
def test_dates_asked_for_run_from_the_first_days_start_to_the_last_days_end(
    now: datetime, first: date, days: int
) -> None:
    last = first + timedelta(days=days)
    start, end = validity(now, 12, SHANGHAI, first, last)
    assert start == datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    assert end == datetime(last.year, last.month, last.day, 23, 59, 59, tzinfo=SHANGHAI)


def test_a_start_date_alone_counts_the_term_from_it() -> None:
    start, end = validity(datetime(2026, 1, 5, tzinfo=UTC), 24, SHANGHAI, date(2026, 1, 31))
    assert start == datetime(2026, 1, 31, tzinfo=SHANGHAI)
    assert end == datetime(2028, 1, 31, tzinfo=SHANGHAI)
