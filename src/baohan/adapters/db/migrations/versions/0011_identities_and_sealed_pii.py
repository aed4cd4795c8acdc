"""Retired identities kept, and personal identity numbers sealed at rest.

``retired_keys`` keeps each identity that ``set-identity --replace`` replaced, so letters it signed still
verify (ELY104). The identity numbers stored inside ``applications.request`` (``legalIdNo``,
``contractCerNo``) and ``claims.request`` (``contractCertCode``), and in the payloads of the platform's
outbox messages, are sealed by the key store; going back opens them again. Either way, when there are numbers to seal or open, the migration needs
$BAOHAN_KEY_PASSPHRASE (every command that migrates has it) and says so when it is absent.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.orm import Session

from baohan.adapters import personal
from baohan.adapters.keystore import KeyStoreError, SecretBox

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)
Change = Callable[[SecretBox, dict[str, Any], str], dict[str, Any]]


class _Target(NamedTuple):  # not a dataclass: alembic loads this file outside sys.modules
    """Where identity numbers are stored: a JSON column, and the column naming the record they are bound to."""

    table: str
    document: str
    record: str
    fields: tuple[str, ...]
    seal: Change
    open: Change


_TARGETS = (
    _Target(
        "applications",
        "request",
        "id",
        personal.APPLICATION_FIELDS,
        lambda box, data, key: personal.seal(box, data, "applications", key),
        lambda box, data, key: personal.unseal(box, data, "applications", key),
    ),
    _Target(
        "claims",
        "request",
        "id",
        personal.CLAIM_FIELDS,
        lambda box, data, key: personal.seal(box, data, "claims", key),
        lambda box, data, key: personal.unseal(box, data, "claims", key),
    ),
    # The platform's ELY101 and ELY105 waiting in its outbox (delivered ones too, until purged).
    _Target(
        "outbox_messages",
        "payload",
        "dedupe_key",
        personal.MESSAGE_FIELDS,
        personal.seal_message,
        personal.unseal_message,
    ),
)


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
    _rewrite(sealing=True)


def downgrade() -> None:
    _rewrite(sealing=False)
    op.drop_index(op.f("ix_retired_keys_name"), table_name="retired_keys")
    op.drop_table("retired_keys")


def _rewrite(*, sealing: bool) -> None:
    """Seal (or open) every stored identity number not sealed (or sealed) yet, in every target."""
    if context.is_offline_mode():
        # SQL printed for a DBA cannot seal: that needs the rows and the passphrase. Say so in the script.
        op.execute(
            "-- 0011: identity numbers already stored are NOT sealed by this script; on a database that "
            "holds applications, run this revision with `baohan db upgrade` (it needs $BAOHAN_KEY_PASSPHRASE)"
        )
        return
    connection = op.get_bind()
    work: list[tuple[_Target, str, str, dict[str, Any]]] = []
    for target in _TARGETS:
        stored = sa.table(target.table, sa.column("id"), sa.column(target.document), sa.column(target.record))
        rows = connection.execute(sa.select(stored.c.id, stored.c[target.document], stored.c[target.record]))
        for row_id, text, record in rows:
            data = json.loads(str(text))
            if isinstance(data, dict) and any(
                isinstance(data.get(f), str) and personal.is_sealed(data[f]) is not sealing
                for f in target.fields
            ):
                work.append((target, str(row_id), str(record), data))
    if not work:
        return
    verb = "seal" if sealing else "open"
    try:
        box = SecretBox.from_env()
    except KeyStoreError as exc:
        raise KeyStoreError(
            f"revision 0011 must {verb} the personal identity numbers of {len(work)} stored record(s): {exc}"
        ) from None
    session = Session(bind=connection)
    box = box.bound_to(session)  # this database's KEK (made if absent); a wrong passphrase stops here
    session.flush()
    for target, row_id, record, data in work:
        change = target.seal if sealing else target.open
        stored = sa.table(target.table, sa.column("id"), sa.column(target.document))
        connection.execute(
            sa.update(stored)
            .where(stored.c.id == row_id)
            .values({target.document: json.dumps(change(box, data, record), ensure_ascii=False)})
        )
    session.close()
