"""Files in chunks, and uploads arriving in slices (tender guarantee files of 20 MB and more).

Rows written before keep their whole file in ``stored_files.content``, which the store still reads; new
rows leave it NULL. Their MD5 stays unknown (NULL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("stored_files", sa.Column("md5", sa.String(32), nullable=True))
    op.create_table(
        "stored_file_chunks",
        sa.Column("file_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("file_id", "number", name=op.f("pk_stored_file_chunks")),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["stored_files.id"],
            name=op.f("fk_stored_file_chunks_file_id_stored_files"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "file_uploads",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("file_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_uploads")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["stored_files.id"], name=op.f("fk_file_uploads_file_id_stored_files")
        ),
    )
    op.create_index(op.f("ix_file_uploads_created_at"), "file_uploads", ["created_at"])
    op.create_table(
        "file_upload_slices",
        sa.Column("upload_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("upload_id", "number", name=op.f("pk_file_upload_slices")),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["file_uploads.id"],
            name=op.f("fk_file_upload_slices_upload_id_file_uploads"),
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    # Older code reads ``content`` only: gather each chunked file back into it, one file at a time.
    # Uploads still in slices are dropped with their tables.
    bind = op.get_bind()
    chunked = bind.scalars(sa.text("SELECT DISTINCT file_id FROM stored_file_chunks")).all()
    for file_id in chunked:
        parts = bind.scalars(
            sa.text("SELECT data FROM stored_file_chunks WHERE file_id = :id ORDER BY number"),
            {"id": file_id},
        )
        content = b"".join(parts)
        bind.execute(
            sa.text("UPDATE stored_files SET content = :content WHERE id = :id").bindparams(
                sa.bindparam("content", type_=sa.LargeBinary())
            ),
            {"id": file_id, "content": content},
        )
    op.drop_table("file_upload_slices")
    op.drop_index(op.f("ix_file_uploads_created_at"), table_name="file_uploads")
    op.drop_table("file_uploads")
    op.drop_table("stored_file_chunks")
    with op.batch_alter_table("stored_files") as batch:
        batch.drop_column("md5")
