"""The tender body and answer: a JSON object (or ``requestData=<JSON>`` form-encoded) in, ``{code, message,
data}`` out; the ``timestamp`` format and the clock check.

On read both body shapes are taken: the profile that would say which is named by the ``appkey`` inside
the body, and the two cannot be confused (a JSON body opens with ``{``, a form with ``requestData=``).
The profile's ``body`` says how we send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl, quote

from baohan.protocols.fields import SHANGHAI, format_wire_datetime
from baohan.protocols.tender.profile import BodyShape
from baohan.protocols.wirejson import NotUnicode, parse_json

FORM_FIELD: Final = "requestData"
FORM_TYPE: Final = "application/x-www-form-urlencoded"
MESSAGE_MAX: Final = 100
OK_MESSAGE: Final = "success"
TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
TIMESTAMP_RULE: Final = "must be a date and time yyyy-MM-dd HH:mm:ss, e.g. 2026-11-30 14:30:00"


class TenderError(ValueError):
    """A request or answer the tender wire refuses; the text names the field and the rule."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = parse_json(raw, exact_numbers=True)
    except NotUnicode as exc:
        raise TenderError(f"{what}: {exc}") from None
    except ValueError:  # UnicodeDecodeError included
        raise TenderError(f"{what}: not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise TenderError(f"{what}: must be a JSON object")
    if "\\u0000" in raw.decode("utf-8"):  # only the escape can carry NUL into JSON text
        _refuse_nul(value)
    return value


def _refuse_nul(fields: dict[str, Any]) -> None:
    # No counterparty means it, and PostgreSQL cannot store it in text or JSON: refused wherever it hides.
    for key, value in fields.items():
        pending = [key, value]
        while pending:
            item = pending.pop()
            if isinstance(item, str) and "\0" in item:
                raise TenderError(f"{key[:50]}: must not contain the NUL character (\\u0000)")
            if isinstance(item, dict):
                pending.extend(item)
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)


def body_shape(body: bytes) -> BodyShape:
    """Which shape ``body`` has: ``form`` when it starts ``requestData=``, else ``json``."""
    return "form" if body.lstrip().startswith(FORM_FIELD.encode() + b"=") else "json"


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's fields from a JSON object or a ``requestData=<url-encoded JSON>`` form (fractions
    as Decimal); TenderError says what is wrong with the body."""
    if body_shape(body) == "json":
        return _json_object(body, "request body")
    try:
        text = body.decode("ascii")  # url-encoding leaves only ASCII; anything else is not a form
        pairs = parse_qsl(text.strip(), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise TenderError("request body: not a URL-encoded form of UTF-8 text") from None
    if [name for name, _ in pairs] != [FORM_FIELD]:
        raise TenderError(f"request body: a form must carry {FORM_FIELD} alone")
    return _json_object(pairs[0][1].encode("utf-8"), FORM_FIELD)


def number_text(value: Decimal) -> str:
    """A Decimal as a JSON number in plain notation: its digits as read (``100.50``), an exponent written out."""
    return f"{value:f}"


def _dump(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"{value} is not a JSON number")
        return number_text(value)
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{_dump(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dump(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def dump_json(fields: Mapping[str, Any]) -> str:
    """``fields`` as compact UTF-8 JSON; a Decimal is written as its exact number (never through float)."""
    return _dump(fields)


def encode_body(fields: Mapping[str, Any], shape: BodyShape) -> tuple[bytes, str]:
    """A request body of ``shape`` and its content type."""
    text = dump_json(fields)
    if shape == "form":
        return f"{FORM_FIELD}={quote(text, safe='')}".encode("ascii"), FORM_TYPE
    return text.encode("utf-8"), "application/json"


def encode_answer(ok: bool, message: str = OK_MESSAGE, data: Mapping[str, Any] | None = None) -> bytes:
    """``{"code": 1|0, "message": ..., "data": {...}}``; the message cut to the spec's 100 characters."""
    return dump_json(
        {"code": 1 if ok else 0, "message": message[:MESSAGE_MAX], "data": dict(data or {})}
    ).encode()


def parse_answer(body: bytes) -> tuple[bool, str, dict[str, Any]]:
    """(ok, message, data) of an answer; TenderError when it is not ``{code: 1|0, message, data}``."""
    answer = _json_object(body, "answer")
    code, message, data = answer.get("code"), answer.get("message"), answer.get("data")
    # Some peers write the code as a string; 1 and "1" say the same.
    if isinstance(code, bool) or str(code) not in ("0", "1"):
        raise TenderError(f"answer: code must be 1 or 0, not {code!r}")
    if message is not None and not isinstance(message, str):
        raise TenderError("answer: message must be a string")
    if data in (None, "", []):
        data = {}
    if not isinstance(data, dict):
        raise TenderError("answer: data must be a JSON object")
    return str(code) == "1", message or "", data


def format_timestamp(moment: datetime) -> str:
    """``moment`` as the wire's ``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai (an aware datetime)."""
    return format_wire_datetime(moment)


def parse_timestamp(text: object, field: str = "timestamp") -> datetime:
    """The aware (Shanghai) datetime of a wire timestamp; TenderError naming ``field`` otherwise."""
    if text is None or (isinstance(text, str) and not text.strip()):
        raise TenderError(f"{field}: required")
    if not isinstance(text, str) or len(text) != 19:
        raise TenderError(f"{field}: {TIMESTAMP_RULE}")
    try:
        parsed = datetime.strptime(text, TIMESTAMP_FORMAT)
    except ValueError:
        raise TenderError(f"{field}: {TIMESTAMP_RULE}") from None
    if format_timestamp(parsed.replace(tzinfo=SHANGHAI)) != text:  # strptime takes "2026-1-1 1:1:1" too
        raise TenderError(f"{field}: {TIMESTAMP_RULE}")
    return parsed.replace(tzinfo=SHANGHAI)


def check_clock(sent_at: datetime, now: datetime, max_skew_seconds: int) -> None:
    """TenderError unless ``sent_at`` is within ``max_skew_seconds`` of ``now``."""
    skew = abs((now - sent_at).total_seconds())
    if skew > max_skew_seconds:
        raise TenderError(
            f"timestamp: {format_timestamp(sent_at)} is {int(skew)} seconds from our clock "
            f"(at most {max_skew_seconds} allowed)"
        )
