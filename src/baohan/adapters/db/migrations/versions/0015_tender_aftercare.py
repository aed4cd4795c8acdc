"""Tender aftercare: invoices get their serial (from a counter) and the unguessable token of their URL.

Revision ID: 0015_tender_aftercare
Revises: 0014_tender
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_tender_aftercare"
down_revision: str | None = "0014_tender"
branch_labels: str | None = None
depends_on: str | None = None

INVOICES = "tender_invoices"


def upgrade() -> None:
    op.create_table(
        "tender_counters",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_tender_counters")),
    )
    # SQLite cannot add a column with a UNIQUE constraint: unique indexes do the same job on both.
    op.add_column(INVOICES, sa.Column("serial", sa.Integer(), nullable=True))
    op.add_column(INVOICES, sa.Column("token", sa.String(64), nullable=True))
    op.create_index("uq_tender_invoices_serial", INVOICES, ["serial"], unique=True)
    op.create_index("uq_tender_invoices_token", INVOICES, ["token"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_tender_invoices_token", INVOICES)
    op.drop_index("uq_tender_invoices_serial", INVOICES)
    with op.batch_alter_table(INVOICES) as batch:  # SQLite drops columns by copying the table
        batch.drop_column("token")
        batch.drop_column("serial")
    op.drop_table("tender_counters")
