"""One idempotency mechanism for every protocol: ``idempotency_records`` replaces ``processed_requests``.

Keyed by (protocol, counterparty, interface, key) instead of (appid, msgcode), with a retention time.
Procurement's records move over keyed by their counterparty's id, interface "" (a msgcode spans the
transcodes), and keep 30 days from when they were made. Going back restores them; the transcode, which
the new table does not keep, comes back empty.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
_COPY = (
    "INSERT INTO idempotency_records "
    "(protocol, counterparty, interface, key, fingerprint, code, message, data, created_at, expires_at) "
    "SELECT 'procurement', c.id, '', p.msgcode, p.fingerprint, p.code, p.message, p.data, p.created_at, "
    "{expires} FROM processed_requests p "
    "JOIN counterparties c ON c.protocol = 'procurement' AND c.appid = p.appid"
)
_COPY_POSTGRESQL = _COPY.replace("{expires}", "p.created_at + interval '30 days'")
_COPY_SQLITE = _COPY.replace("{expires}", "datetime(p.created_at, '+30 days')")


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("protocol", sa.String(20), nullable=False),
        sa.Column("counterparty", sa.String(64), nullable=False),
        sa.Column("interface", sa.String(40), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("message", sa.String(200), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint(
            "protocol", "counterparty", "interface", "key", name=op.f("pk_idempotency_records")
        ),
    )
    op.create_index(op.f("ix_idempotency_records_expires_at"), "idempotency_records", ["expires_at"])
    op.execute(_COPY_POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _COPY_SQLITE)
    op.drop_table("processed_requests")


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO processed_requests (appid, msgcode, transcode, fingerprint, code, message, data, created_at) "
        "SELECT c.appid, r.key, '', r.fingerprint, r.code, r.message, r.data, r.created_at "
        "FROM idempotency_records r JOIN counterparties c ON c.id = r.counterparty "
        "WHERE r.protocol = 'procurement' AND r.interface = ''"
    )
    op.drop_index(op.f("ix_idempotency_records_expires_at"), table_name="idempotency_records")
    op.drop_table("idempotency_records")
