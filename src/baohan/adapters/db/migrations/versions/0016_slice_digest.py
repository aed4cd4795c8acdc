"""Upload slices without their SM3: a repeated slice is compared byte for byte with the one held (repeats
are rare), and hashing every slice cost the receiver about a tenth of its CPU per MB (0006).

Revision ID: 0016_slice_digest
Revises: 0015_tender_aftercare
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from baohan.gm import sm3_hex

revision = "0016_slice_digest"
down_revision: str | None = "0015_tender_aftercare"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("file_upload_slices") as batch:
        batch.drop_column("sm3")


def downgrade() -> None:
    with op.batch_alter_table("file_upload_slices") as batch:
        batch.add_column(sa.Column("sm3", sa.String(64), nullable=True))
    # Slices staged meanwhile get their digest back, one at a time (they are at most a slice each).
    slices = sa.table(
        "file_upload_slices",
        sa.column("upload_id", sa.String),
        sa.column("number", sa.Integer),
        sa.column("sm3", sa.String),
        sa.column("data", sa.LargeBinary),
    )
    connection = op.get_bind()
    keys = connection.execute(sa.select(slices.c.upload_id, slices.c.number)).all()
    for upload_id, number in keys:
        where = (slices.c.upload_id == upload_id) & (slices.c.number == number)
        data: bytes = connection.execute(sa.select(slices.c.data).where(where)).scalar_one()
        connection.execute(sa.update(slices).where(where).values(sm3=sm3_hex(data)))
    with op.batch_alter_table("file_upload_slices") as batch:
        batch.alter_column("sm3", existing_type=sa.String(64), nullable=False)
