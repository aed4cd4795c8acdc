"""Money and rates held exactly on SQLite: scaled integers instead of binary floats.

SQLite's NUMERIC affinity kept a fraction such as 0.10 or 1234567890123456.78 as a REAL (a binary
float), which cannot hold every amount of NUMERIC(18,2). From this revision on, ``ExactNumeric`` writes
``value × 10^scale`` as a 64-bit integer; this converts the rows written before. PostgreSQL's NUMERIC
was always exact: nothing changes there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# (table, column, scale) of every ExactNumeric column.
COLUMNS = (
    ("applications", "amount", 2),
    ("applications", "premium", 2),
    ("applications", "rate", 6),
    ("applications", "paid_amount", 2),
    ("claims", "claim_amount", 2),
    ("claims", "paid_amount", 2),
)


def _rescale(scaled: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, name, scale in COLUMNS:
        column: sa.ColumnClause[Any] = sa.column(name)
        # A REAL was the nearest float to a value with at most ``scale`` decimals: rounding recovers it
        # for every value a float could carry to that precision (all but the most extreme amounts).
        value = (
            sa.cast(sa.func.round(column * 10**scale), sa.Integer) if scaled else column / float(10**scale)
        )
        op.execute(sa.update(sa.table(table, column)).where(column.is_not(None)).values({name: value}))


def upgrade() -> None:
    _rescale(True)


def downgrade() -> None:
    _rescale(False)
