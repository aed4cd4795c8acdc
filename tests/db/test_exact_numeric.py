"""Money and rates come back from either database exactly as they went in, and revision 0004 converts
the binary floats SQLite held before."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, Table, delete, insert, select
from sqlalchemy.exc import StatementError

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import ExactNumeric, make_engine, make_session_factory
from baohan.adapters.db.tables import Application

# Values SQLite's REAL (and SQLAlchemy's float path) used to bend: 16 integer digits with cents.
EDGES = [
    Decimal("9999999999999999.99"),
    Decimal("1234567890123456.78"),
    Decimal("0.10"),
    Decimal("0.00"),
    Decimal("70368744177664.01"),
]
cents = st.integers(min_value=0, max_value=10**18 - 1).map(lambda n: Decimal(n).scaleb(-2))
micro = st.integers(min_value=0, max_value=10**10 - 1).map(lambda n: Decimal(n).scaleb(-6))

metadata = MetaData()
amounts = Table(
    "amounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("money", ExactNumeric(18, 2)),
    Column("rate", ExactNumeric(10, 6)),
)


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_db_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def round_trip(engine: Engine, pairs: list[tuple[Decimal, Decimal]]) -> list[tuple[Decimal, Decimal]]:
    with engine.begin() as connection:
        connection.execute(delete(amounts))
        connection.execute(
            insert(amounts), [{"id": i, "money": m, "rate": r} for i, (m, r) in enumerate(pairs)]
        )
        return [(row.money, row.rate) for row in connection.execute(select(amounts).order_by(amounts.c.id))]


def test_edge_amounts_come_back_exactly(engine: Engine) -> None:
    pairs = [(value, Decimal("9999.999999")) for value in EDGES]
    back = round_trip(engine, pairs)
    assert back == pairs
    assert [str(money) for money, _ in back] == [str(value) for value in EDGES]  # and with their two decimals


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(st.tuples(cents, micro), min_size=1, max_size=40))
def test_any_amount_and_rate_comes_back_exactly(engine: Engine, pairs: list[tuple[Decimal, Decimal]]) -> None:
    back = round_trip(engine, pairs)
    assert back == pairs
    assert all(m.as_tuple().exponent == -2 and r.as_tuple().exponent == -6 for m, r in back)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (Decimal("0.001"), "does not fit NUMERIC"),  # finer than a cent: refused, never rounded
        (Decimal("10000000000000000.00"), "does not fit NUMERIC"),
        (Decimal("1E+999999"), "does not fit NUMERIC"),  # refused before becoming a huge integer
        (Decimal("1E-999999"), "does not fit NUMERIC"),
        (Decimal("-10000000000000000"), "does not fit NUMERIC"),
        (Decimal("NaN"), "finite Decimal"),
        (0.1, "finite Decimal"),
    ],
)
def test_what_does_not_fit_is_refused_and_nothing_is_written(engine: Engine, value: object, why: str) -> None:
    with pytest.raises(StatementError, match=why), engine.begin() as connection:
        connection.execute(insert(amounts), {"id": 1, "money": value, "rate": Decimal("0.005")})
    with engine.connect() as connection:
        assert connection.execute(select(amounts)).all() == []


def test_sqlite_stores_scaled_integers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    metadata.create_all(engine)
    round_trip(engine, [(Decimal("125000.10"), Decimal("0.005"))])
    engine.dispose()
    with sqlite3.connect(tmp_path / "a.db") as raw:
        assert raw.execute("SELECT typeof(money), money, typeof(rate), rate FROM amounts").fetchone() == (
            "integer",
            12500010,
            "integer",
            5000,
        )


def test_revision_0004_converts_the_floats_sqlite_held(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url, "0003")
    with sqlite3.connect(path) as raw:  # as 0003-era code wrote them: REAL for fractions, INTEGER else
        raw.execute(
            "INSERT INTO applications (id, side, counterparty_id, application_id, stage, content_hash,"
            " request, supplier_code, supplier_name, purchaser_code, purchaser_name, project_code,"
            " project_name, bid_code, bid_name, amount, term_months, decision_reasons, premium, rate,"
            " paid_amount, created_at, updated_at, version) VALUES ('a1', 'issuer', 'p', 'A1', 'issued',"
            " 'h', '{}', 's', 'S', 'p', 'P', 'ZB', 'Z', 'B', 'B', 125000, 12, '[]', 612.55, 0.0049,"
            " 0.1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"
        )
    migrate.upgrade(url)
    assert migrate.diff(url) == []
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            app = session.get(Application, "a1")
            assert app is not None
            assert (app.amount, app.premium, app.rate, app.paid_amount) == (
                Decimal("125000.00"),
                Decimal("612.55"),
                Decimal("0.004900"),
                Decimal("0.10"),
            )
            assert str(app.amount) == "125000.00"
    finally:
        engine.dispose()
    command.downgrade(migrate.alembic_config(url), "0003")  # and back: what 0003-era code reads
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT amount, premium, rate, paid_amount FROM applications").fetchone() == (
            125000,
            612.55,
            0.0049,
            0.1,
        )
