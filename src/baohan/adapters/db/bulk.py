"""The hot paths of the ELY101 group commit: many rows into a table in one ``executemany``, and the
batch's lookups by IN lists, both on the DBAPI cursor of the caller's connection and transaction.

SQLAlchemy's own ``execute(insert(table), rows)`` spends ~100 µs of Python per row on parameter
bookkeeping, and an ``execute(select)`` ~50 µs a statement. Here each statement is compiled by
SQLAlchemy once per dialect and shape, and values go through their columns' own bind and result
processors, so rows are stored and read exactly as SQLAlchemy would store and read them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, FromClause, Select, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool
    # Columns the rows leave out, with their Python-side defaults: compiling the INSERT adds every
    # defaulted column, and execute(insert) would fill them in (callables once per row).
    defaults: tuple[tuple[str, Any], ...]


def _defaults(table: Table, order: tuple[str, ...], given: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    # Only scalar and callable defaults become parameters; SQL-expression defaults are compiled inline.
    return tuple((name, table.c[name].default) for name in order if name not in given)


_PLANS: dict[tuple[str, str, tuple[str, ...]], _Plan] = {}


def _plan(connection: Connection, table: Table, columns: tuple[str, ...]) -> _Plan:
    dialect = connection.dialect
    key = (dialect.name, table.name, columns)
    plan = _PLANS.get(key)
    if plan is None:
        compiled = insert(table).values({name: bindparam(name) for name in columns}).compile(dialect=dialect)
        if compiled.positional:
            order = tuple(compiled.positiontup or ())
        else:  # the given columns, then the defaulted ones compiling added
            order = columns + tuple(name for name in compiled.params if name not in columns)
        processors = tuple(table.c[name].type._cached_bind_processor(dialect) for name in order)
        plan = _Plan(
            str(compiled), order, processors, bool(compiled.positional), _defaults(table, order, columns)
        )
        _PLANS[key] = plan
    return plan


def insert_many(connection: Connection, table: FromClause, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each naming the same columns) into ``table`` in the connection's transaction.

    A database error is raised as SQLAlchemy's (IntegrityError, OperationalError, ...), as execute would.
    """
    if not rows:
        return
    if not isinstance(table, Table):
        raise TypeError(f"insert_many needs a Table, got {type(table).__name__}")
    plan = _plan(connection, table, tuple(rows[0]))
    if plan.defaults:
        rows = [{**row, **{name: _value(default) for name, default in plan.defaults}} for row in rows]
    columns = plan.columns
    processed = [(i, proc) for i, proc in enumerate(plan.processors) if proc is not None]
    # Rows of one batch share their timestamps; each distinct one is converted once.
    converted: dict[tuple[int, datetime], Any] = {}
    values: list[list[Any]] = []
    for row in rows:
        out = [row[name] for name in columns]  # most columns need no processing: take them in one go
        for i, proc in processed:
            value = out[i]
            if value is None:
                continue
            if type(value) is datetime:
                key = (i, value)
                if key not in converted:
                    converted[key] = proc(value)
                out[i] = converted[key]
            else:
                out[i] = proc(value)
        values.append(out)
    params: list[Any] = (
        [tuple(v) for v in values]
        if plan.positional
        else [dict(zip(plan.columns, v, strict=True)) for v in values]
    )
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(plan.sql, params)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(plan.sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect) from exc
    finally:
        cursor.close()


def _value(default: Any) -> Any:
    # SQLAlchemy wraps a zero-argument callable into one that takes the execution context.
    return default.arg(None) if default.is_callable else default.arg


@dataclass(frozen=True, slots=True)
class _Query:
    sql: str
    positional: bool
    # For each placeholder in order: its name, and which list and element it takes (or, list None, the
    # constant the statement itself bound).
    slots: tuple[tuple[str, str | None, Any], ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


@functools.lru_cache(maxsize=1024)  # (statements hash by identity; a batch's lists take a few lengths)
def _query(
    dialect: Dialect, statement: Select[*tuple[Any, ...]], shape: tuple[tuple[str, int], ...]
) -> _Query:
    # Each element a unique marker, so the expanded parameters say which list and place each came from.
    markers = {name: [f"\0{name}\0{i}" for i in range(size)] for name, size in shape}
    compiled = statement.compile(dialect=dialect)
    expanded = compiled.construct_expanded_state(markers)
    names = expanded.positiontup if compiled.positional else list(expanded.parameters)
    slots: list[tuple[str, str | None, Any]] = []
    for name in names or ():
        value = expanded.parameters[name]
        if isinstance(value, str) and value.startswith("\0"):
            _, source, index = value.split("\0")
            slots.append((name, source, int(index)))
        else:
            slots.append((name, None, value))
    processors = tuple(
        column.type._cached_result_processor(dialect, None) for column in statement.selected_columns
    )
    return _Query(expanded.statement, bool(compiled.positional), tuple(slots), processors)


def select_rows(
    connection: Connection, statement: Select[*tuple[Any, ...]], lists: Mapping[str, Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """Run ``statement`` with ``lists`` for its expanding ``bindparam``s; the rows as tuples in the order of
    its columns. Compiled once per dialect, statement and list lengths, so ``statement`` should be a module
    constant (the cache keys it by identity).
    """
    shape = tuple((name, len(values)) for name, values in lists.items())
    query = _query(connection.dialect, statement, shape)
    values = [value if source is None else lists[source][value] for _, source, value in query.slots]
    params: Any = (
        tuple(values) if query.positional else dict(zip((s[0] for s in query.slots), values, strict=True))
    )
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        cursor.execute(query.sql, params)
        rows = cursor.fetchall()
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            query.sql, params, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc
    finally:
        cursor.close()
    if not any(query.processors):
        return [tuple(row) for row in rows]
    pairs = tuple(enumerate(query.processors))
    return [tuple(row[i] if p is None else p(row[i]) for i, p in pairs) for row in rows]
