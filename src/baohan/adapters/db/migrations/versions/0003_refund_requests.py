"""ELY109 cancellations and surrenders waiting for an operator's decision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decision_reason", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
        sa.ForeignKeyConstraint(
            ["application_pk"],
            ["applications.id"],
            name=op.f("fk_refund_requests_application_pk_applications"),
        ),
    )
    op.create_index(op.f("ix_refund_requests_application_pk"), "refund_requests", ["application_pk"])
    op.create_index(
        "uq_refund_requests_pending",
        "refund_requests",
        ["application_pk"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("refund_requests")
