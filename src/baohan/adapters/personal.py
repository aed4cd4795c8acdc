"""Personal identity numbers inside stored requests (PIPL 个人信息): sealed at rest, masked for operators.

A stored ELY101 (``applications.request``) and ELY105 (``claims.request``) keep every field as it came,
except the identity numbers below, which are sealed by the key store (``bh2$…``) and bound to their row
and field, so a sealed number copied to another row does not open there. A message waiting in the outbox
to be sent (the platform's ELY101 and ELY105) carries them sealed too, bound to its dedupe key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from baohan.adapters.keystore import LEGACY_PREFIX, PREFIX, SecretBox

APPLICATION_FIELDS = ("legalIdNo", "contractCerNo")  # ELY101: the legal representative's and the contact's
CLAIM_FIELDS = ("contractCertCode",)  # ELY105: the claimant contact's
PERSONAL_FIELDS = {"applications": APPLICATION_FIELDS, "claims": CLAIM_FIELDS}
MESSAGE_FIELDS = APPLICATION_FIELDS + CLAIM_FIELDS
HIDDEN = "********"
# The shortest token the key store makes (bh1$, no DEK, an empty secret) is 64 characters; the wire allows
# these fields 18, so a number sent as "bh2$…" cannot pass for a sealed one and stay in clear.
_SEALED_MIN = 64


def context(table: str, row_id: str, field: str) -> str:
    """The record a sealed identity number belongs to, e.g. ``applications:…:legalIdNo``."""
    return f"{table}:{row_id}:{field}"


def is_sealed(value: object) -> bool:
    """True when ``value`` is a key-store token rather than a number in clear."""
    return isinstance(value, str) and len(value) >= _SEALED_MIN and value.startswith((PREFIX, LEGACY_PREFIX))


def seal(box: SecretBox, request: Mapping[str, Any], table: str, row_id: str) -> dict[str, Any]:
    """A copy of ``request`` (a row of ``table``) with its identity numbers sealed; sealed ones are kept."""
    return _seal(box, request, PERSONAL_FIELDS[table], f"{table}:{row_id}")


def unseal(box: SecretBox, request: Mapping[str, Any], table: str, row_id: str) -> dict[str, Any]:
    """A copy of ``request`` with its identity numbers opened; KeyStoreError if one does not open."""
    return _unseal(box, request, PERSONAL_FIELDS[table], f"{table}:{row_id}")


def seal_message(box: SecretBox, payload: Mapping[str, Any], dedupe_key: str) -> dict[str, Any]:
    """An outbox payload with its identity numbers sealed, bound to the message's ``dedupe_key``."""
    return _seal(box, payload, MESSAGE_FIELDS, f"outbox:{dedupe_key}")


def unseal_message(box: SecretBox, payload: Mapping[str, Any], dedupe_key: str | None) -> dict[str, Any]:
    """The payload to send: as :func:`seal_message` left it, opened (one sealed before this had none)."""
    return _unseal(box, payload, MESSAGE_FIELDS, f"outbox:{dedupe_key}")


def _seal(box: SecretBox, data: Mapping[str, Any], fields: tuple[str, ...], record: str) -> dict[str, Any]:
    sealed = dict(data)
    for field in fields:
        value = sealed.get(field)
        if isinstance(value, str) and not is_sealed(value):
            sealed[field] = box.seal(value.encode("utf-8"), context=f"{record}:{field}")
    return sealed


def _unseal(box: SecretBox, data: Mapping[str, Any], fields: tuple[str, ...], record: str) -> dict[str, Any]:
    opened = dict(data)
    for field in fields:
        value = opened.get(field)
        if isinstance(value, str) and is_sealed(value):
            opened[field] = box.open(value, context=f"{record}:{field}").decode("utf-8")
    return opened


def mask(value: str) -> str:
    """``110101********1234``: the region and the last four kept, the birth date and the rest hidden."""
    if len(value) < 12:
        return HIDDEN
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def shown(
    box: SecretBox | None, request: Mapping[str, Any], table: str, row_id: str, *, reveal: bool = False
) -> dict[str, Any]:
    """``request`` as an operator sees it: identity numbers masked, or in clear when ``reveal``.

    Without a box a sealed number is shown as ``********``.
    """
    view = dict(request)
    for field in PERSONAL_FIELDS[table]:
        value = view.get(field)
        if not isinstance(value, str):
            continue
        if is_sealed(value):
            if box is None:
                view[field] = HIDDEN
                continue
            value = box.open(value, context=context(table, row_id, field)).decode("utf-8")
        view[field] = value if reveal else mask(value)
    return view
