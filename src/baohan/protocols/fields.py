"""Wire field types shared by both protocols: amounts, dates and times, Base64, bounded text, errors.

Every field travels as a JSON string. A payload parsed with ``validate_wire`` (the wire context) must
carry strings only; a model built in Python may also be given the inner type (``Decimal``, an aware
``datetime``, ``date``, ``bytes``, ``int``), never a float. Lengths count characters, not bytes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError, PydanticUndefined

SHANGHAI: Final = ZoneInfo("Asia/Shanghai")

WIRE_CONTEXT: Final[Mapping[str, bool]] = {"wire": True}

CENT: Final = Decimal("0.01")
# NUMERIC(18,2): sixteen integer digits, far above any guarantee and exact in Decimal's 28 digits.
AMOUNT_MAX: Final = Decimal("9999999999999999.99")
# Every wire pattern is ASCII: re.ASCII keeps a later edit from letting \d or \w match full-width digits.
_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,15})\.[0-9]{2}", re.ASCII)
AMOUNT_RULE: Final = "must be an amount with exactly two decimals, e.g. 125000.00"

_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)
_COMPACT_DATETIME = re.compile(r"[0-9]{14}", re.ASCII)
_COMPACT_DATE = re.compile(r"[0-9]{8}", re.ASCII)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# java.util.Base64.getDecoder(): the standard alphabet, no line breaks; we also insist on the padding
# that every encoder writes.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", re.ASCII)
# The table allows ten characters; a term beyond a century is a typing mistake, and ten digits overflow
# the database's integer.
MONTHS_MAX: Final = 1200
_MONTHS = re.compile(r"[1-9][0-9]{0,3}", re.ASCII)


class MessageInvalid(ValueError):
    """A message that breaks a rule of its protocol; ``field`` is the wire name (dotted when nested)."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def _is_wire(info: ValidationInfo) -> bool:
    return isinstance(info.context, Mapping) and bool(info.context.get("wire"))


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float | Decimal):
        return "a JSON number"
    if isinstance(value, Mapping):
        return "a JSON object"
    if isinstance(value, list | tuple):
        return "a JSON array"
    return type(value).__name__


def _not_a_string(value: object) -> PydanticCustomError:
    return PydanticCustomError("wire_string", "must be a string, not {kind}", {"kind": _json_kind(value)})


def _require_str(value: object) -> str:
    if not isinstance(value, str):
        raise _not_a_string(value)
    if "\0" in value:
        # No counterparty means it, and PostgreSQL cannot store it in text or JSON.
        raise PydanticCustomError("nul", "must not contain the NUL character (\\u0000)")
    return value


StringOnly: Final = BeforeValidator(_require_str)
"""Refuses anything but a string before pydantic could coerce it; put it on every enum field."""

Text = Annotated[str, StringOnly]


def text(max_length: int, *, required: bool = True, **kwargs: Any) -> Any:
    """The field of a ``Text`` of at most ``max_length`` characters; optional ones default to None."""
    default = PydanticUndefined if required else None
    return Field(default, max_length=max_length, **kwargs)


# --- amounts -------------------------------------------------------------------------------------------


def _amount_error() -> PydanticCustomError:
    return PydanticCustomError("amount", AMOUNT_RULE)


def _checked_amount(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0 or value > AMOUNT_MAX:
        raise _amount_error()
    exact = value.quantize(CENT)
    if exact != value:
        raise _amount_error()
    return exact.copy_abs()  # -0.00 is zero, and the wire has no sign


def format_amount(value: Decimal) -> str:
    """``value`` as the wire writes it (``125000.00``); ValueError if two decimals cannot carry it exactly."""
    try:
        return f"{_checked_amount(value):f}"
    except PydanticCustomError as exc:
        raise ValueError(f"{value!r}: {AMOUNT_RULE}") from exc


def parse_amount(value: str) -> Decimal:
    """The ``Decimal`` of a wire amount; ValueError unless it is digits, a point and two decimals."""
    if not _AMOUNT.fullmatch(value):
        raise ValueError(f"{value!r}: {AMOUNT_RULE}")
    return Decimal(value)


def _validate_amount(value: object, info: ValidationInfo) -> Decimal:
    if isinstance(value, Decimal) and not _is_wire(info):
        return _checked_amount(value)
    if not isinstance(value, str):
        raise _not_a_string(value)
    if not _AMOUNT.fullmatch(value):
        raise _amount_error()
    return Decimal(value)


Amount = Annotated[
    Decimal,
    PlainValidator(_validate_amount),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _AMOUNT.pattern, "examples": ["125000.00"]}),
]
"""Money: ``"125000.00"`` on the wire, ``Decimal`` inside; never negative, never a float."""


# --- dates and times -----------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError("naive_datetime", "must be a timezone-aware datetime")
    # The wire carries whole seconds in Shanghai time; hold exactly what will be sent.
    return value.astimezone(SHANGHAI).replace(microsecond=0)


def _datetime_parser(pattern: re.Pattern[str], fmt: str, rule: str) -> Any:
    def validate(value: object, info: ValidationInfo) -> datetime:
        if isinstance(value, datetime) and not _is_wire(info):
            return _aware(value)
        if not isinstance(value, str):
            raise _not_a_string(value)
        try:
            if not pattern.fullmatch(value):
                raise ValueError(value)
            return datetime.strptime(value, fmt).replace(tzinfo=SHANGHAI)
        except ValueError:
            raise PydanticCustomError("datetime_format", rule) from None

    return validate


def _date_parser(pattern: re.Pattern[str], rule: str) -> Any:
    def validate(value: object, info: ValidationInfo) -> date:
        # A datetime is a date too; taking one here would silently drop its time.
        if isinstance(value, date) and not isinstance(value, datetime) and not _is_wire(info):
            return value
        if not isinstance(value, str):
            raise _not_a_string(value)
        try:
            if not pattern.fullmatch(value):
                raise ValueError(value)
            # The pattern has fixed the digits' places; date() checks the calendar, ten times faster
            # than strptime (every ELY101 carries several dates).
            digits = value.replace("-", "")
            return date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
        except ValueError:
            raise PydanticCustomError("date_format", rule) from None

    return validate


def format_wire_datetime(value: datetime) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Shanghai time (an aware datetime from any zone is converted)."""
    t = _aware(value)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def format_compact_datetime(value: datetime) -> str:
    """``yyyyMMddHHmmss`` in Shanghai time (an aware datetime from any zone is converted)."""
    t = _aware(value)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"


def format_compact_date(value: date) -> str:
    """``yyyyMMdd``."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def format_wire_date(value: date) -> str:
    """``yyyy-MM-dd``."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


WireDateTime = Annotated[
    datetime,
    PlainValidator(
        _datetime_parser(
            _DATETIME,
            "%Y-%m-%d %H:%M:%S",
            "must be a date and time yyyy-MM-dd HH:mm:ss, e.g. 2023-09-01 14:30:00",
        )
    ),
    PlainSerializer(format_wire_datetime, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["2023-09-01 14:30:00"]}),
]
"""``yyyy-MM-dd HH:mm:ss`` (24-hour, Asia/Shanghai) ↔ an aware datetime in Shanghai."""

CompactDateTime = Annotated[
    datetime,
    PlainValidator(
        _datetime_parser(
            _COMPACT_DATETIME, "%Y%m%d%H%M%S", "must be a date and time yyyyMMddHHmmss, e.g. 20230901143000"
        )
    ),
    PlainSerializer(format_compact_datetime, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["20230901143000"]}),
]
"""``yyyyMMddHHmmss`` (Asia/Shanghai) ↔ an aware datetime in Shanghai."""

CompactDate = Annotated[
    date,
    PlainValidator(_date_parser(_COMPACT_DATE, "must be a date yyyyMMdd, e.g. 20230901")),
    PlainSerializer(format_compact_date, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["20230901"]}),
]
"""``yyyyMMdd`` ↔ date."""

WireDate = Annotated[
    date,
    PlainValidator(_date_parser(_DATE, "must be a date yyyy-MM-dd, e.g. 2023-09-01")),
    PlainSerializer(format_wire_date, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "examples": ["2023-09-01"]}),
]
"""``yyyy-MM-dd`` ↔ date."""


# --- numbers of months, Base64 -------------------------------------------------------------------------


def _validate_months(value: object, info: ValidationInfo) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and not _is_wire(info):
        if 1 <= value <= MONTHS_MAX:
            return value
    elif not isinstance(value, str):
        raise _not_a_string(value)
    elif _MONTHS.fullmatch(value) and int(value) <= MONTHS_MAX:
        return int(value)
    raise PydanticCustomError(
        "months", "must be a whole number of months from 1 to {max}, e.g. 24", {"max": MONTHS_MAX}
    )


Months = Annotated[
    int,
    PlainValidator(_validate_months),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": _MONTHS.pattern, "examples": ["24"]}),
]
"""A whole number of months, ``"24"`` on the wire, ``int`` inside."""


def _validate_base64(value: object, info: ValidationInfo) -> bytes:
    if isinstance(value, bytes) and not _is_wire(info):
        raw = value
    elif not isinstance(value, str):
        raise _not_a_string(value)
    elif not _BASE64.fullmatch(value):
        raise PydanticCustomError(
            "base64", "must be standard Base64 (A-Z a-z 0-9 + /, padded with =, no line breaks)"
        )
    else:
        raw = base64.b64decode(value, validate=True)
    if not raw:
        raise PydanticCustomError("base64_empty", "must not be empty")
    return raw


def format_base64(value: bytes) -> str:
    """Standard padded Base64, as ``java.util.Base64.getEncoder()`` writes it."""
    return base64.b64encode(value).decode("ascii")


Base64Data = Annotated[
    bytes,
    PlainValidator(_validate_base64),
    PlainSerializer(format_base64, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]
"""Binary content: strict standard Base64 on the wire, the decoded ``bytes`` inside; never empty."""


# --- models, validation and errors ---------------------------------------------------------------------


def _blank(value: str) -> bool:
    return not value or value.isspace()


class WireModel(BaseModel):
    """Base of every message body: fields named as on the wire, unknown fields ignored, blanks absent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        # Java peers write absent optional fields as null or "": both mean "not given", so a blank
        # required field reads as missing and a blank optional one as None. Whitespace alone (a full-width
        # space included) says nothing either: it must not satisfy a required field or a condition.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None and not (isinstance(v, str) and _blank(v))}
        return data


def require_when(model: BaseModel, fields: tuple[str, ...], condition: str) -> None:
    """Raise the first of ``fields`` that is None, as required when ``condition`` (in an after-validator)."""
    for name in fields:
        if getattr(model, name) is None:
            raise PydanticCustomError(
                "required_when", "required when {condition}", {"field": name, "condition": condition}
            )


def require_order(model: BaseModel, first: str, then: str) -> None:
    """Raise on ``then`` when both are given and ``then`` comes before ``first`` (in an after-validator)."""
    start, end = getattr(model, first), getattr(model, then)
    if start is not None and end is not None and end < start:
        raise PydanticCustomError("order", "must not be before {other}", {"field": then, "other": first})


def _rule(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind in ("string_too_long", "too_long"):
        # "too_long" is the same limit on an optional field, where pydantic checks it after the None case.
        got = f", got {len(error['input'])}" if isinstance(error.get("input"), str) else ""
        return f"must be at most {ctx['max_length']} characters{got}"
    if kind == "enum":
        return f"must be one of {ctx['expected']}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a JSON object"
    if kind == "string_type":
        return "must be a string"
    return str(error["msg"])


def invalid_from(exc: ValidationError, *, root: str = "data") -> MessageInvalid:
    """The first error of ``exc`` as one ``MessageInvalid`` naming its field (``root`` for the whole body)."""
    error = exc.errors(include_url=False)[0]
    ctx = error.get("ctx") or {}
    path = [str(part) for part in error["loc"]]
    if isinstance(ctx.get("field"), str):
        path.append(ctx["field"])
    return MessageInvalid(".".join(path) or root, _rule(error))


_M = TypeVar("_M", bound=BaseModel)


def validate_wire(model: type[_M], payload: object) -> _M:
    """``payload`` (decoded JSON) as a ``model``, strings only; MessageInvalid names the first bad field."""
    try:
        return model.model_validate(payload, context=dict(WIRE_CONTEXT))
    except ValidationError as exc:
        raise invalid_from(exc) from exc


_BINARY_MODELS: dict[type[BaseModel], bool] = {}


def wire_is_payload(model: BaseModel, payload: Mapping[str, Any]) -> bool:
    """True when ``to_wire(model)`` equals ``payload``, the wire dict ``model`` was validated from (by
    ``validate_wire``: strings only), known without building it (a fifth of the cost of storing an ELY101).

    Every wire type accepts only its canonical spelling (two-decimal amounts, fixed-width dates, months
    without leading zeros), so a value the model kept comes back exactly as it came, and what remains is
    whether the model kept every key under its own name: no blank dropped, no extra ignored, no alias.
    Base64 is the exception (unused pad bits are not canonical), so models with binary fields say False.
    """
    binary = _BINARY_MODELS.get(type(model))
    if binary is None:
        binary = any(info.annotation is bytes for info in type(model).model_fields.values())
        _BINARY_MODELS[type(model)] = binary
    return not binary and payload.keys() == model.model_fields_set


def to_wire(model: BaseModel, *, rename: Mapping[str, str] | None = None) -> dict[str, str]:
    """``model`` as its wire dict: wire names, every value a string, None fields left out.

    ``rename`` maps a field to the name a counterparty's profile wants instead (``performanceBou``).
    """
    dumped = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    names = rename or {}
    return {names.get(key, key): value for key, value in dumped.items()}
