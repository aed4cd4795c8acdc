"""Outbox: messages of one aggregate go out in order (the ``aggregate`` column and its head-of-line index).

The partial index holds only undelivered messages, so the check "is an earlier message of this aggregate
still undelivered?" is one index probe however many messages were ever delivered.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_NOT_DELIVERED = "status <> 'delivered'"


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages") as batch:
        batch.add_column(sa.Column("aggregate", sa.String(128), nullable=True))
    op.create_index(
        "ix_outbox_messages_undelivered_aggregate",
        "outbox_messages",
        ["aggregate", "id"],
        sqlite_where=sa.text(_NOT_DELIVERED),
        postgresql_where=sa.text(_NOT_DELIVERED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_undelivered_aggregate", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch:
        batch.drop_column("aggregate")
