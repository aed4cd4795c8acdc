"""insert_many and select_rows store and read rows exactly as SQLAlchemy's own insert and select would,
and fail the way they would.

(Decimal, JSON and time columns of applications go through it on every ELY101; the intake and lifecycle
tests read those back on both databases.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.bulk import insert_many, select_rows
from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import IdempotencyRecord

MOMENT = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))


def _processed(n: int, data: dict[str, object] | None) -> dict[str, object]:
    return {
        "protocol": "procurement",
        "counterparty": "APP",
        "interface": "",
        "key": f"{n:032d}",
        "fingerprint": "f" * 64,
        "code": "000",
        "message": "成功",
        "data": data,
        "created_at": MOMENT,
        "expires_at": MOMENT + timedelta(days=30),
    }


def test_rows_read_back_as_sqlalchemy_writes_them(sessions: sessionmaker[Session]) -> None:
    ours = [_processed(1, {"金额": "1.00", "list": [1, 2]}), _processed(2, None)]
    theirs = [_processed(3, {"金额": "1.00", "list": [1, 2]}), _processed(4, None)]
    with transaction(sessions) as session:
        insert_many(session.connection(), IdempotencyRecord.__table__, ours)
        session.connection().execute(insert(IdempotencyRecord), theirs)
    with sessions() as session:
        rows = {r.key: r for r in session.scalars(select(IdempotencyRecord))}
        raw = session.connection().exec_driver_sql("SELECT key, data, created_at FROM idempotency_records")
        stored = {m: (d, c) for m, d, c in raw}
    for mine, same in (("1", "3"), ("2", "4")):
        a, b = rows[mine.zfill(32)], rows[same.zfill(32)]
        assert (a.data, a.created_at, a.message) == (b.data, b.created_at, b.message)
        assert stored[mine.zfill(32)] == stored[same.zfill(32)]  # the very same stored text and time
    assert rows["1".zfill(32)].created_at == MOMENT.astimezone(UTC)


def test_a_duplicate_key_raises_sqlalchemys_integrity_error_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with pytest.raises(IntegrityError), transaction(sessions) as session:
        insert_many(
            session.connection(), IdempotencyRecord.__table__, [_processed(1, None), _processed(1, None)]
        )
    with sessions() as session:
        assert session.scalars(select(IdempotencyRecord)).all() == []


def test_nothing_to_insert_is_a_no_op(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        insert_many(session.connection(), IdempotencyRecord.__table__, [])
    with sessions() as session:
        assert session.scalars(select(IdempotencyRecord)).all() == []


def test_only_tables_are_accepted(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session, pytest.raises(TypeError, match="needs a Table"):
        insert_many(session.connection(), select(IdempotencyRecord).subquery(), [_processed(1, None)])


def test_an_encoded_json_document_is_stored_as_it_is(sessions: sessionmaker[Session]) -> None:
    from baohan.adapters.db.engine import JSONDocument

    with transaction(sessions) as session:
        insert_many(
            session.connection(),
            IdempotencyRecord.__table__,
            [_processed(1, JSONDocument('{"b":1,"a":[2]}'))],
        )
    with sessions() as session:
        assert session.scalars(select(IdempotencyRecord.data)).one() == {"b": 1, "a": [2]}
        stored = session.connection().exec_driver_sql("SELECT data FROM idempotency_records").scalar_one()
    assert stored == '{"b":1,"a":[2]}'


LOOKUP = select(IdempotencyRecord.key, IdempotencyRecord.data, IdempotencyRecord.created_at).where(
    IdempotencyRecord.protocol == "procurement",  # a constant the statement binds itself
    IdempotencyRecord.counterparty.in_(bindparam("appids", expanding=True)),
    IdempotencyRecord.key.in_(bindparam("msgcodes", expanding=True)),
)


@pytest.mark.parametrize("wanted", [[], [2], [1, 3, 4], [5, 1, 2, 3, 4], [9]])
def test_select_rows_reads_what_execute_reads(sessions: sessionmaker[Session], wanted: list[int]) -> None:
    with transaction(sessions) as session:
        insert_many(
            session.connection(),
            IdempotencyRecord.__table__,
            [_processed(n, {"n": n, "名": "值"} if n % 2 else None) for n in range(1, 6)],
        )
    params = {"appids": ["APP", "OTHER"], "msgcodes": [f"{n:032d}" for n in wanted]}
    with sessions() as session:
        connection = session.connection()
        ours = sorted(select_rows(connection, LOOKUP, params))
        theirs = sorted(tuple(row) for row in connection.execute(LOOKUP, params))
        again = sorted(select_rows(connection, LOOKUP, params))  # from the compiled cache
    assert ours == theirs == again
    assert len(ours) == len([n for n in wanted if n <= 5])
    assert all(row[2] == MOMENT.astimezone(UTC) and (row[1] is None or row[1]["名"] == "值") for row in ours)


def test_select_rows_fails_as_sqlalchemy_would(sessions: sessionmaker[Session]) -> None:
    missing = Table("no_such_table", MetaData(), Column("x", String))
    query = select(missing.c.x).where(missing.c.x.in_(bindparam("xs", expanding=True)))
    with sessions() as session, pytest.raises(DBAPIError):
        select_rows(session.connection(), query, {"xs": ["a"]})


def test_columns_left_out_take_their_python_side_defaults_row_by_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A defaulted column the rows do not name gets its default, as execute(insert) would give it: a
    callable once per row. (Adding such a column to a hot table used to fail every ELY101 batch with 302.)
    """
    from itertools import count

    from sqlalchemy import Integer, create_engine

    serial = count(1)
    metadata = MetaData()
    table = Table(
        "t",
        metadata,
        Column("id", String(10), primary_key=True),
        Column("note", String(10), default="plain"),
        Column("n", Integer, default=lambda: next(serial)),
        Column("given", String(10), default="never used"),
    )
    engine = create_engine(f"sqlite:///{tmp_path}/d.db")
    metadata.create_all(engine)
    with engine.begin() as connection:
        insert_many(connection, table, [{"id": "a", "given": "x"}, {"id": "b", "given": "y"}])
        rows = connection.execute(select(table).order_by(table.c.id)).all()
    assert [tuple(r) for r in rows] == [("a", "plain", 1, "x"), ("b", "plain", 2, "y")]


def test_a_hot_table_takes_rows_without_its_defaulted_columns(sessions: sessionmaker[Session]) -> None:
    """A defaulted column of a table the ELY101 intake writes (here the replay record's time) may be left out."""
    row = _processed(9, None)
    del row["created_at"]  # its default is the current time
    with transaction(sessions) as session:
        insert_many(session.connection(), IdempotencyRecord.__table__, [row])
    with sessions() as session:
        stored = session.get(IdempotencyRecord, ("procurement", "APP", "", f"{9:032d}"))
        assert stored is not None and stored.created_at.tzinfo is not None


def test_a_left_out_column_with_a_sql_default_gets_it_from_the_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    metadata = MetaData()
    table = Table(
        "t",
        metadata,
        Column("id", String(10), primary_key=True),
        Column("at", String(30), default=text("'x'")),
    )
    engine = create_engine(f"sqlite:///{tmp_path}/d.db")
    metadata.create_all(engine)
    with engine.begin() as connection:
        insert_many(connection, table, [{"id": "a"}])
        assert connection.execute(select(table.c.at)).scalar_one() == "x"
