"""Retired identities kept, and personal identity numbers sealed at rest.

``retired_keys`` keeps each identity that ``set-identity --replace`` replaced, so letters it signed still
verify (ELY104). The identity numbers stored inside ``applications.request`` (``legalIdNo``,
``contractCerNo``) and ``claims.request`` (``contractCertCode``) are sealed by the key store; going back
opens them again. Either way, when there are numbers to seal or open, the migration needs
$BAOHAN_KEY_PASSPHRASE (every command that migrates has it) and says so when it is absent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from baohan.adapters import personal
from baohan.adapters.keystore import KeyStoreError, SecretBox

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
Change = Callable[[SecretBox, dict[str, Any], str, str], dict[str, Any]]


def upgrade() -> None:
    op.create_table(
        "retired_keys",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("private_key_sealed", sa.Text(), nullable=False),
        sa.Column("public_key", sa.String(130), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("ca_certificate_pem", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("retired_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retired_keys")),
    )
    op.create_index(op.f("ix_retired_keys_name"), "retired_keys", ["name"])
    _rewrite(personal.seal, lambda value: not personal.is_sealed(value), "seal")


def downgrade() -> None:
    _rewrite(personal.unseal, personal.is_sealed, "open")
    op.drop_index(op.f("ix_retired_keys_name"), table_name="retired_keys")
    op.drop_table("retired_keys")


def _table(name: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.String), sa.column("request", sa.Text))


def _rewrite(change: Change, pending: Callable[[object], bool], verb: str) -> None:
    """Apply ``change`` to every stored request holding an identity number ``pending`` says to change."""
    connection = op.get_bind()
    work: list[tuple[str, str, dict[str, Any]]] = []
    for table, fields in personal.PERSONAL_FIELDS.items():
        stored = _table(table)
        rows = connection.execute(sa.select(stored.c.id, stored.c.request))
        for row_id, text in rows:
            request = json.loads(str(text))
            if isinstance(request, dict) and any(
                isinstance(request.get(f), str) and pending(request[f]) for f in fields
            ):
                work.append((table, str(row_id), request))
    if not work:
        return
    try:
        box = SecretBox.from_env()
    except KeyStoreError as exc:
        raise KeyStoreError(
            f"revision 0011 must {verb} the personal identity numbers of {len(work)} stored request(s): {exc}"
        ) from None
    session = Session(bind=connection)
    box = box.bound_to(session)  # this database's KEK (made if absent); a wrong passphrase stops here
    session.flush()
    for table, row_id, request in work:
        stored = _table(table)
        connection.execute(
            sa.update(stored)
            .where(stored.c.id == row_id)
            .values(request=json.dumps(change(box, request, table, row_id), ensure_ascii=False))
        )
    session.close()
