"""The deployment's key-encryption keys: scrypt salt and check value, shared by every process on a database.

Sealed rows are re-sealed from ``bh1$`` to ``bh2$`` when a role opens the database with the passphrase
(a migration does not know it): see ``reseal_all`` in the procurement registry. Downgrading drops the
table but leaves the ``bh2$`` tokens, which only code of this revision or later opens.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "key_encryption_keys",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.String(32), nullable=False),
        sa.Column("check_value", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_encryption_keys")),
    )


def downgrade() -> None:
    op.drop_table("key_encryption_keys")
