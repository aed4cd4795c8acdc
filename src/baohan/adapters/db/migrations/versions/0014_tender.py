"""Tender (spec 004): bid sections and quotes, applications with their history, guarantee files, agreements,
claims and their documents, invoices, quits and give-ups.

Revision ID: 0014_tender
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_tender"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 2)
RATE = sa.Numeric(10, 6)
APPLICATIONS = "tender_applications.id"
TABLES = (  # newest first: the order they are dropped in
    "tender_give_ups",
    "tender_quits",
    "tender_invoices",
    "tender_claim_documents",
    "tender_claims",
    "tender_agreements",
    "tender_guarantee_files",
    "tender_events",
    "tender_quotes",
    "tender_applications",
    "tender_bid_sections",
)


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=op.f(f"fk_{table}_{column}_{referred}"))


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def _owned(table: str, *columns: sa.schema.SchemaItem, pk: str = "id") -> None:
    """A table of rows belonging to one application (``application_pk``)."""
    op.create_table(
        table,
        *columns,
        _pk(table, pk),
        _fk(table, "application_pk", APPLICATIONS),
    )


def upgrade() -> None:
    t = "tender_bid_sections"
    op.create_table(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(500), nullable=False),
        sa.Column("project_key_sealed", sa.Text(), nullable=False),
        sa.Column("fields_sealed", sa.Text(), nullable=False),
        sa.Column("sealed_values", sa.Text(), nullable=False),
        sa.Column("kaibiaotime", TS, nullable=False),
        sa.Column("opened_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _pk(t, "id"),
        sa.UniqueConstraint("code", name=op.f(f"uq_{t}_code")),
    )
    _index(t, "kaibiaotime")

    t = "tender_applications"
    op.create_table(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("counterparty_id", sa.String(64), nullable=False),
        sa.Column("applyno", sa.String(50), nullable=False),
        sa.Column("platformcode", sa.String(50), nullable=False),
        sa.Column("bid_section_id", sa.String(36), nullable=True),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("resume_stage", sa.String(20), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("applydata", sa.Text(), nullable=False),
        sa.Column("digitalenvelope", sa.Text(), nullable=False),
        sa.Column("bidder_certificate_pem", sa.Text(), nullable=True),
        sa.Column("bidder_name", sa.String(200), nullable=True),
        sa.Column("bidder_code", sa.String(50), nullable=True),
        sa.Column("bzj_amount", MONEY, nullable=True),
        sa.Column("sealed_fields", sa.Text(), nullable=True),
        sa.Column("project_key_sealed", sa.Text(), nullable=True),
        sa.Column("project_fields", sa.Text(), nullable=True),
        sa.Column("baohanno", sa.String(50), nullable=True),
        sa.Column("inst_name", sa.String(200), nullable=True),
        sa.Column("rate", RATE, nullable=True),
        sa.Column("cost", MONEY, nullable=True),
        sa.Column("generated_at", TS, nullable=True),
        sa.Column("payer_name", sa.String(200), nullable=True),
        sa.Column("payer_account", sa.String(50), nullable=True),
        sa.Column("paid_amount", MONEY, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("kaibiaotime", TS, nullable=True),
        sa.Column("restored_at", TS, nullable=True),
        sa.Column("quit_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _pk(t, "id"),
        _fk(t, "counterparty_id", "counterparties.id"),
        _fk(t, "bid_section_id", "tender_bid_sections.id"),
        sa.UniqueConstraint(
            "side", "counterparty_id", "applyno", name=op.f(f"uq_{t}_side_counterparty_id_applyno")
        ),
        sa.UniqueConstraint(
            "side", "counterparty_id", "baohanno", name=op.f(f"uq_{t}_side_counterparty_id_baohanno")
        ),
    )
    _index(t, "bid_section_id")
    _index(t, "stage")
    _index(t, "bidder_code")

    t = "tender_quotes"
    op.create_table(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("bid_section_id", sa.String(36), nullable=False),
        sa.Column("bidder_code", sa.String(50), nullable=False),
        sa.Column("counterparty_id", sa.String(64), nullable=False),
        sa.Column("product", sa.String(100), nullable=False),
        sa.Column("rate", RATE, nullable=False),
        sa.Column("premium", MONEY, nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        _pk(t, "id"),
        _fk(t, "bid_section_id", "tender_bid_sections.id"),
        _fk(t, "counterparty_id", "counterparties.id"),
        _fk(t, "application_pk", APPLICATIONS),
        sa.UniqueConstraint(
            "bid_section_id",
            "bidder_code",
            "counterparty_id",
            "product",
            name=op.f(f"uq_{t}_bid_section_id_bidder_code_counterparty_id_product"),
        ),
    )
    _index(t, "bid_section_id")

    t = "tender_events"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=True),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        _pk(t, "id"),
        _fk(t, "application_pk", APPLICATIONS),
    )
    _index(t, "application_pk")

    t = "tender_guarantee_files"
    op.create_table(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("filetype", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("file_id", sa.String(36), nullable=True),
        sa.Column("upload_id", sa.String(36), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("digest_method", sa.String(8), nullable=True),
        sa.Column("key_sealed", sa.Text(), nullable=True),
        sa.Column("iv_sealed", sa.Text(), nullable=True),
        sa.Column("slices", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        _pk(t, "id"),
        _fk(t, "application_pk", APPLICATIONS),
        _fk(t, "file_id", "stored_files.id"),
        _fk(t, "upload_id", "file_uploads.id"),
        sa.UniqueConstraint("application_pk", "filetype", name=op.f(f"uq_{t}_application_pk_filetype")),
    )

    t = "tender_agreements"
    _owned(
        t,
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("file_id", sa.String(36), nullable=False),
        sa.Column("signed_at", TS, nullable=False),
        _fk(t, "file_id", "stored_files.id"),
        pk="application_pk",
    )

    t = "tender_claims"
    _owned(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decision_reason", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
    )
    _index(t, "application_pk")
    _index(t, "due_at")

    t = "tender_claim_documents"
    op.create_table(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("claim_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(255), nullable=True),
        sa.Column("file_id", sa.String(36), nullable=True),
        sa.Column("fetched_at", TS, nullable=True),
        _pk(t, "id"),
        _fk(t, "claim_id", "tender_claims.id"),
        _fk(t, "file_id", "stored_files.id"),
        sa.UniqueConstraint("claim_id", "number", name=op.f(f"uq_{t}_claim_id_number")),
    )

    t = "tender_invoices"
    _owned(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("invoice_url", sa.String(1000), nullable=True),
        sa.Column("invoice_code", sa.String(50), nullable=True),
        sa.Column("invoice_no", sa.String(50), nullable=True),
        sa.Column("file_id", sa.String(36), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        _fk(t, "file_id", "stored_files.id"),
    )
    _index(t, "application_pk")

    t = "tender_quits"
    _owned(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decision_reason", sa.String(500), nullable=True),
        sa.Column("quit_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
    )
    _index(t, "application_pk")
    op.create_index(
        "uq_tender_quits_pending",
        t,
        ["application_pk"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )

    t = "tender_give_ups"
    _owned(
        t,
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
    )
    _index(t, "application_pk")


def downgrade() -> None:
    # Dropping a table drops its indexes with it, on both databases.
    for table in TABLES:
        op.drop_table(table)
