"""Admin operators: one named bearer token per person, kept as its SM3 digest (never the token itself).

The audit trail then records the operator's name for every admin API action instead of "admin-api".

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "admin_operators",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_admin_operators")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_admin_operators_token_digest")),
    )


def downgrade() -> None:
    op.drop_table("admin_operators")
