"""Procurement: our keys, counterparties, applications and their history, claims, files, replays, switches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
MONEY = sa.Numeric(18, 2)


def upgrade() -> None:
    op.create_table(
        "own_keys",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("private_key_sealed", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(130), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("ca_certificate_pem", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_own_keys")),
    )
    op.create_table(
        "counterparties",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(20), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("appkey", sa.String(64), nullable=False),
        sa.Column("appsecret_sealed", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(130), nullable=False),
        sa.Column("own_key_name", sa.String(64), nullable=False),
        sa.Column("endpoint_url", sa.String(500), nullable=True),
        sa.Column("per_transcode_paths", sa.Boolean(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counterparties")),
        sa.ForeignKeyConstraint(
            ["own_key_name"], ["own_keys.name"], name=op.f("fk_counterparties_own_key_name_own_keys")
        ),
        sa.UniqueConstraint("protocol", "appid", name=op.f("uq_counterparties_protocol_appid")),
    )
    op.create_table(
        "stored_files",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sm3", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_files")),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("side", sa.String(10), nullable=False),
        sa.Column("counterparty_id", sa.String(64), nullable=False),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("supplier_code", sa.String(64), nullable=False),
        sa.Column("supplier_name", sa.String(256), nullable=False),
        sa.Column("purchaser_code", sa.String(64), nullable=False),
        sa.Column("purchaser_name", sa.String(256), nullable=False),
        sa.Column("project_code", sa.String(128), nullable=False),
        sa.Column("project_name", sa.String(256), nullable=False),
        sa.Column("bid_code", sa.String(256), nullable=False),
        sa.Column("bid_name", sa.String(256), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("product", sa.String(32), nullable=True),
        sa.Column("premium", MONEY, nullable=True),
        sa.Column("rate", sa.Numeric(10, 6), nullable=True),
        sa.Column("decision_reasons", sa.Text(), nullable=False),
        sa.Column("extends_id", sa.String(36), nullable=True),
        sa.Column("guarantee_id", sa.String(64), nullable=True),
        sa.Column("valid_from", TS, nullable=True),
        sa.Column("valid_to", TS, nullable=True),
        sa.Column("issued_at", TS, nullable=True),
        sa.Column("paid_amount", MONEY, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("pay_type", sa.String(2), nullable=True),
        sa.Column("fail_reason", sa.String(255), nullable=True),
        sa.Column("file_id", sa.String(36), nullable=True),
        sa.Column("file_name", sa.String(255), nullable=True),
        sa.Column("verification", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.ForeignKeyConstraint(
            ["counterparty_id"],
            ["counterparties.id"],
            name=op.f("fk_applications_counterparty_id_counterparties"),
        ),
        sa.ForeignKeyConstraint(
            ["extends_id"], ["applications.id"], name=op.f("fk_applications_extends_id_applications")
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["stored_files.id"], name=op.f("fk_applications_file_id_stored_files")
        ),
        sa.UniqueConstraint(
            "side",
            "counterparty_id",
            "application_id",
            name=op.f("uq_applications_side_counterparty_id_application_id"),
        ),
        sa.UniqueConstraint("side", "guarantee_id", name=op.f("uq_applications_side_guarantee_id")),
    )
    op.create_index(op.f("ix_applications_stage"), "applications", ["stage"])
    op.create_index(op.f("ix_applications_supplier_code"), "applications", ["supplier_code"])
    op.create_index(op.f("ix_applications_project_code"), "applications", ["project_code"])
    op.create_table(
        "application_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("from_stage", sa.String(20), nullable=True),
        sa.Column("to_stage", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_events")),
        sa.ForeignKeyConstraint(
            ["application_pk"],
            ["applications.id"],
            name=op.f("fk_application_events_application_pk_applications"),
        ),
    )
    op.create_index(op.f("ix_application_events_application_pk"), "application_events", ["application_pk"])
    op.create_table(
        "claims",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("application_pk", sa.String(36), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("claim_amount", MONEY, nullable=False),
        sa.Column("paid_amount", MONEY, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("decision_reason", sa.String(255), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("decided_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.ForeignKeyConstraint(
            ["application_pk"], ["applications.id"], name=op.f("fk_claims_application_pk_applications")
        ),
    )
    op.create_index(op.f("ix_claims_application_pk"), "claims", ["application_pk"])
    op.create_table(
        "processed_requests",
        sa.Column("appid", sa.String(32), nullable=False),
        sa.Column("msgcode", sa.String(32), nullable=False),
        sa.Column("transcode", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("code", sa.String(3), nullable=False),
        sa.Column("message", sa.String(200), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("appid", "msgcode", name=op.f("pk_processed_requests")),
    )
    op.create_table(
        "switches",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_switches")),
    )


def downgrade() -> None:
    for table in (
        "switches",
        "processed_requests",
        "claims",
        "application_events",
        "applications",
        "stored_files",
        "counterparties",
        "own_keys",
    ):
        op.drop_table(table)
