"""The tender message digest (spec 004 "报文摘要"): every field but ``sign``, empty ones dropped, in ASCII
order as ``k=v`` joined by ``&``, digested with the appsecret as the counterparty's profile says.

Values are rendered as sent: a string as itself, a JSON number as its text (read exactly, as a Decimal,
so ``100.50`` stays ``100.50``; only an exponent form is written out, ``1e2`` → ``100``), ``true``/``false``
as those words, and an object or array as compact JSON. ``null`` and ``""`` are empty.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from baohan.gm import hmac_sm3, sm3_hex
from baohan.protocols.tender.profile import SignMethod
from baohan.protocols.tender.wire import dump_json, number_text

SIGN = "sign"


def render(value: Any) -> str | None:
    """The text ``value`` contributes to the sign string; None when it is empty (left out)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, float):
        return repr(value)
    return dump_json(value)


def sign_string(fields: Mapping[str, Any]) -> str:
    """The string the digest covers: non-empty fields except ``sign``, ASCII-sorted, ``k=v`` joined by ``&``."""
    parts = []
    for key in sorted(fields):
        text = render(fields[key]) if key != SIGN else None
        if text is not None:
            parts.append(f"{key}={text}")
    return "&".join(parts)


def compute(fields: Mapping[str, Any], appsecret: str, method: SignMethod) -> str:
    """The sign of ``fields`` under ``appsecret`` by ``method``, as lowercase hex."""
    text = sign_string(fields)
    if method == "hmac-sm3":
        return hmac_sm3(appsecret.encode("utf-8"), text.encode("utf-8")).hex()
    suffix = {"sm3": appsecret, "sm3-key": "&key=" + appsecret, "sm3-appsecret": "&appsecret=" + appsecret}
    if method not in suffix:
        raise ValueError(f"unknown sign method {method!r}")
    return sm3_hex((text + suffix[method]).encode("utf-8"))


def matches(fields: Mapping[str, Any], appsecret: str, method: SignMethod) -> bool:
    """Whether ``fields["sign"]`` is their sign: hex compared case-insensitively, in constant time."""
    given = fields.get(SIGN)
    if not isinstance(given, str) or not given:
        return False
    expected = compute(fields, appsecret, method)
    return hmac.compare_digest(given.lower().encode("utf-8"), expected.encode("ascii"))


def signed(fields: Mapping[str, Any], appsecret: str, method: SignMethod) -> dict[str, Any]:
    """A copy of ``fields`` with its ``sign`` set."""
    out = {key: value for key, value in fields.items() if key != SIGN}
    out[SIGN] = compute(out, appsecret, method)
    return out
