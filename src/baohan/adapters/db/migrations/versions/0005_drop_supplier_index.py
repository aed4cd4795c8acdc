"""Drop the index on applications.supplier_code: no query uses it.

Every ELY101 paid for it: a supplier's code lands on its own leaf of the index, one more page written
per application, for lookups that go by application id, project or stage instead.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.drop_index("ix_applications_supplier_code", table_name="applications")


def downgrade() -> None:
    op.create_index("ix_applications_supplier_code", "applications", ["supplier_code"])
