"""What the issuer's notices say, and how their outbox keys are made: shared by every code path that sends them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from baohan.gm import sm3_hex
from baohan.protocols.fields import SHANGHAI
from baohan.protocols.procurement.envelope import canonical_json
from baohan.protocols.procurement.tables import check_outgoing


def content_hash(payload: dict[str, Any]) -> str:
    """A digest of a message's content, independent of key order."""
    return canonical_hash(canonical_json(payload))


def canonical_hash(canonical: str) -> str:
    """:func:`content_hash` of a payload already written by ``canonical_json``."""
    return sm3_hex(canonical.encode())


def money(value: Decimal) -> str:
    """An amount as the wire writes it: two decimals."""
    return f"{value:.2f}"


def wire_time(moment: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def status_notice(
    application_id: str, status: str, *, limits: Mapping[str, int] | None = None, **fields: str
) -> dict[str, Any]:
    """An ELY102 payload, checked against its own table as the platform's profile ``limits`` widen it
    (MessageInvalid naming the field if it cannot be sent)."""
    payload = {"applicationId": application_id, "applicationStatus": status, **fields}
    check_outgoing("ELY102", payload, limits)
    return payload


def notice_key(application_pk: str, key: str) -> str:
    """The outbox dedupe key of one notice about one application."""
    return f"{application_pk}:{key}"


def status_key(application_pk: str, status: str, dedupe: str | None = None) -> str:
    """The outbox dedupe key of an ELY102 with ``status`` (``dedupe`` for notices that may repeat)."""
    return notice_key(application_pk, f"ELY102:{status}:{dedupe or ''}")
