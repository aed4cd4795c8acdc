"""Registry per protocol: identifiers long enough for both protocols, pause switches per protocol role,
and the generation counter that tells every process the registry changed.

``counterparties.appid`` grows to 64 characters (tender's appkey is up to 50) and is unique per protocol
role, so one database can host both roles of a protocol. The single ``paused``
switch becomes one per protocol role; an existing one pauses both procurement roles, as it did.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_SPLIT_PAUSE = (
    "INSERT INTO switches (name, value) SELECT 'paused:procurement:issuer', value FROM switches "
    "WHERE name = 'paused'",
    "INSERT INTO switches (name, value) SELECT 'paused:procurement:platform', value FROM switches "
    "WHERE name = 'paused'",
)


def upgrade() -> None:
    with op.batch_alter_table("counterparties") as batch:
        batch.alter_column("appid", existing_type=sa.String(32), type_=sa.String(64), existing_nullable=False)
        batch.drop_constraint("uq_counterparties_protocol_appid", type_="unique")
        batch.create_unique_constraint("uq_counterparties_protocol_role_appid", ["protocol", "role", "appid"])
    for statement in _SPLIT_PAUSE:
        op.execute(statement)
    op.execute("DELETE FROM switches WHERE name = 'paused'")
    op.execute("INSERT INTO switches (name, value) VALUES ('registry:generation', '0')")


def downgrade() -> None:
    op.execute("DELETE FROM switches WHERE name = 'registry:generation'")
    op.execute(
        "INSERT INTO switches (name, value) SELECT 'paused', value FROM switches "
        "WHERE name = 'paused:procurement:issuer'"
    )
    op.execute("DELETE FROM switches WHERE name LIKE 'paused:%'")
    with op.batch_alter_table("counterparties") as batch:
        batch.drop_constraint("uq_counterparties_protocol_role_appid", type_="unique")
        batch.create_unique_constraint("uq_counterparties_protocol_appid", ["protocol", "appid"])
        batch.alter_column("appid", existing_type=sa.String(64), type_=sa.String(32), existing_nullable=False)
