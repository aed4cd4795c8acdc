"""Wire field types: amounts, dates and times, months, Base64, bounded text, blanks, errors, to_wire."""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from baohan.protocols.fields import (
    AMOUNT_MAX,
    SHANGHAI,
    Amount,
    Base64Data,
    CompactDate,
    CompactDateTime,
    MessageInvalid,
    Months,
    Text,
    WireDate,
    WireDateTime,
    WireModel,
    format_amount,
    parse_amount,
    text,
    to_wire,
    validate_wire,
)

# The oracle, written independently of the implementation: digits without a leading zero, a point, two.
TWO_DECIMALS = re.compile(r"(0|[1-9][0-9]{0,15})\.[0-9]{2}", re.ASCII)


class Sample(WireModel):
    amount: Amount | None = None
    at: WireDateTime | None = None
    compact_at: CompactDateTime | None = None
    day: CompactDate | None = None
    iso_day: WireDate | None = None
    months: Months | None = None
    blob: Base64Data | None = None
    name: Text | None = text(5, required=False)


class Needs(WireModel):
    code: Text = text(3)


def wire(**fields: Any) -> Sample:
    return validate_wire(Sample, fields)


def refused(field: str, value: object) -> MessageInvalid:
    with pytest.raises(MessageInvalid) as info:
        validate_wire(Sample, {field: value})
    assert info.value.field == field
    return info.value


# --- amounts -------------------------------------------------------------------------------------------


@given(st.decimals(min_value=0, max_value=AMOUNT_MAX, places=2, allow_nan=False, allow_infinity=False))
def test_amount_round_trip(value: Decimal) -> None:
    text_form = format_amount(value)
    assert TWO_DECIMALS.fullmatch(text_form)
    parsed = wire(amount=text_form).amount
    assert parsed == value
    assert to_wire(Sample(amount=value)) == {"amount": text_form}
    assert parse_amount(text_form) == value


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789.-+eE ,_", max_size=24),
        st.from_regex(r"\A-?[0-9]{1,18}(\.[0-9]{0,4})?\Z"),
    )
)
def test_any_string_that_is_not_a_two_decimal_amount_is_refused(candidate: str) -> None:
    assume(candidate.strip() != "")  # blank (or whitespace alone) means absent, tested below
    if TWO_DECIMALS.fullmatch(candidate):
        assert format_amount(wire(amount=candidate).amount or Decimal(-1)) == candidate
    else:
        error = refused("amount", candidate)
        assert error.rule == "must be an amount with exactly two decimals, e.g. 125000.00"
        with pytest.raises(ValueError, match="two decimals"):
            parse_amount(candidate)


@pytest.mark.parametrize(
    "candidate",
    [
        "-1.00",
        "+1.00",
        "1.0",
        "1",
        "1.000",
        "1e3",
        "1E+2",
        "1.00e0",
        "NaN",
        "Infinity",
        " 1.00",
        "1.00 ",
        "1.00\n",
        "01.00",
        "１.００",
        "1,000.00",
        ".50",
        "1.",
        "0x10.00",
        "10000000000000000.00",
    ],
)
def test_malformed_amounts_are_refused(candidate: str) -> None:
    assert (
        str(refused("amount", candidate))
        == "amount: must be an amount with exactly two decimals, e.g. 125000.00"
    )


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (125000.0, "a JSON number"),
        (125000, "a JSON number"),
        (True, "a JSON boolean"),
        ({"v": 1}, "a JSON object"),
    ],
)
def test_an_amount_that_is_not_a_json_string_is_refused(value: object, kind: str) -> None:
    assert refused("amount", value).rule == f"must be a string, not {kind}"


def test_a_decimal_is_not_a_wire_string_even_from_a_decimal_json_parser() -> None:
    # json.loads(parse_float=Decimal) would hand us a Decimal for the JSON number 125000.00.
    assert refused("amount", Decimal("125000.00")).rule == "must be a string, not a JSON number"


def test_python_side_takes_decimals_and_keeps_them_exact() -> None:
    assert Sample(amount=Decimal("5")).amount == Decimal("5.00")
    assert to_wire(Sample(amount=Decimal("5"))) == {"amount": "5.00"}
    assert to_wire(Sample(amount=Decimal("-0"))) == {"amount": "0.00"}
    assert to_wire(Sample(amount=Decimal("1.500"))) == {"amount": "1.50"}
    for bad in (
        Decimal("1.005"),
        Decimal("-1"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("1E+30"),
        1.5,
        2,
    ):
        with pytest.raises(ValidationError):
            Sample(amount=bad)


@pytest.mark.parametrize("bad", [Decimal("1.005"), Decimal("-0.01"), Decimal("NaN"), AMOUNT_MAX + 1])
def test_format_amount_refuses_what_two_decimals_cannot_carry(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="two decimals"):
        format_amount(bad)


# --- dates and times -----------------------------------------------------------------------------------

ZONES = [SHANGHAI, UTC, ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30))]


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)),
    st.sampled_from(ZONES),
)
def test_datetimes_round_trip_in_shanghai_time(naive: datetime, zone: Any) -> None:
    model = Sample(at=naive.replace(tzinfo=zone), compact_at=naive.replace(tzinfo=zone))
    assert model.at is not None and model.at.tzinfo is SHANGHAI and model.at.microsecond == 0
    # Compared as instants: PEP 495 makes == between zones False for a time DST makes ambiguous.
    assert model.at.timestamp() == naive.replace(tzinfo=zone, microsecond=0).timestamp()
    sent = to_wire(model)
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", sent["at"])
    assert re.fullmatch(r"[0-9]{14}", sent["compact_at"])
    assert validate_wire(Sample, sent) == model


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)))
def test_dates_round_trip(day: date) -> None:
    model = Sample(day=day, iso_day=day)
    sent = to_wire(model)
    assert sent == {"day": day.strftime("%Y%m%d"), "iso_day": day.isoformat()}
    assert validate_wire(Sample, sent) == model


def test_wire_datetime_is_shanghai_time() -> None:
    model = wire(at="2023-09-01 14:30:00", compact_at="20230901143000")
    assert model.at == datetime(2023, 9, 1, 6, 30, tzinfo=UTC)
    assert model.compact_at == model.at
    assert to_wire(Sample(at=datetime(2023, 9, 1, 0, 0, tzinfo=UTC))) == {"at": "2023-09-01 08:00:00"}
    assert to_wire(Sample(compact_at=datetime(2023, 12, 31, 20, 0, tzinfo=UTC))) == {
        "compact_at": "20240101040000"
    }


def test_a_naive_datetime_is_refused_on_the_python_side() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        Sample(at=datetime(2023, 9, 1, 14, 30))


@pytest.mark.parametrize(
    "candidate",
    [
        "2023-02-30 10:00:00",
        "2023-13-01 10:00:00",
        "2023-01-01 24:00:00",
        "2023-01-01 10:60:00",
        "2023-1-1 10:00:00",
        "2023-01-01T10:00:00",
        "2023/01/01 10:00:00",
        "2023-01-01 10:00",
        "2023-01-01",
        "20230101100000",
        "2023-01-01 10:00:00+08:00",
        " 2023-01-01 10:00:00",
    ],
)
def test_malformed_wire_datetimes_are_refused(candidate: str) -> None:
    assert refused("at", candidate).rule.startswith("must be a date and time yyyy-MM-dd HH:mm:ss")


@pytest.mark.parametrize(
    "candidate",
    ["20230230000000", "20231301000000", "20230101240000", "2023010110000", "2023-01-01 10:00:00"],
)
def test_malformed_compact_datetimes_are_refused(candidate: str) -> None:
    assert refused("compact_at", candidate).rule.startswith("must be a date and time yyyyMMddHHmmss")


@pytest.mark.parametrize(
    "candidate",
    ["20230230", "20231301", "20230001", "2023011", "202301011", "2023-01-01", "２０２３０１０１"],
)
def test_malformed_compact_dates_are_refused(candidate: str) -> None:
    assert refused("day", candidate).rule == "must be a date yyyyMMdd, e.g. 20230901"


@pytest.mark.parametrize(
    "candidate", ["2023-02-30", "2023-13-01", "2023-1-1", "20230101", "2023-01-01 00:00:00"]
)
def test_malformed_wire_dates_are_refused(candidate: str) -> None:
    assert refused("iso_day", candidate).rule == "must be a date yyyy-MM-dd, e.g. 2023-09-01"


def test_a_leap_day_is_a_date() -> None:
    assert wire(day="20240229", iso_day="2024-02-29").day == date(2024, 2, 29)
    assert refused("day", "20230229")


def test_a_datetime_is_not_taken_for_a_date() -> None:
    with pytest.raises(ValidationError):
        Sample(day=datetime(2023, 9, 1, 12, 0, tzinfo=SHANGHAI))


@pytest.mark.parametrize("field", ["at", "compact_at", "day", "iso_day"])
def test_dates_must_be_json_strings(field: str) -> None:
    assert refused(field, 20230901).rule == "must be a string, not a JSON number"


# --- months, Base64 ------------------------------------------------------------------------------------


def test_months() -> None:
    assert wire(months="24").months == 24
    assert to_wire(Sample(months=36)) == {"months": "36"}
    assert wire(months="1200").months == 1200
    # Ten digits fit the table's ten characters but not a database integer (issue 14): a century at most.
    for bad in ("0", "024", "-1", "1.5", "24个月", "12 ", "1201", "9999999999", "99999999999", "２４"):
        assert refused("months", bad).rule == "must be a whole number of months from 1 to 1200, e.g. 24"
    with pytest.raises(ValidationError):
        Sample(months=1201)
    assert refused("months", 24).rule == "must be a string, not a JSON number"


@given(st.binary(min_size=1, max_size=300))
def test_base64_round_trip(raw: bytes) -> None:
    sent = to_wire(Sample(blob=raw))
    assert sent == {"blob": base64.b64encode(raw).decode()}
    assert wire(blob=sent["blob"]).blob == raw


@pytest.mark.parametrize(
    "candidate", ["YWJj\n", "YW Jj", "YWI", "YQ=", "YQ", "YWJj====", "-_8=", "YW=j", "保函"]
)
def test_base64_is_strict(candidate: str) -> None:
    assert refused("blob", candidate).rule.startswith("must be standard Base64")


def test_base64_content_is_never_empty() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        Sample(blob=b"")


# --- bounded text, blanks, unknown fields, errors ------------------------------------------------------


def test_length_counts_characters_not_bytes() -> None:
    assert wire(name="电子保函书").name == "电子保函书"  # 5 characters, 15 UTF-8 bytes
    error = refused("name", "电子保函书x")
    assert error.rule == "must be at most 5 characters, got 6"
    with pytest.raises(MessageInvalid, match=r"^code: must be at most 3 characters, got 4$"):
        validate_wire(Needs, {"code": "保函保函"})


def test_text_must_be_a_json_string() -> None:
    assert refused("name", 12345).rule == "must be a string, not a JSON number"
    assert refused("name", False).rule == "must be a string, not a JSON boolean"
    assert refused("name", ["a"]).rule == "must be a string, not a JSON array"


@pytest.mark.parametrize("blank", [None, "", " ", "   ", "\t\n", "\u3000"])
def test_blank_means_absent(blank: object) -> None:
    # Whitespace alone says nothing: it must not satisfy a required field (issue 15).
    assert wire(name=blank, amount=blank, at=blank) == Sample()
    with pytest.raises(MessageInvalid) as info:
        validate_wire(Needs, {"code": blank})
    assert (info.value.field, info.value.rule) == ("code", "required")


@given(st.text(max_size=6), st.text(max_size=6))
def test_a_nul_anywhere_in_text_is_refused(before: str, after: str) -> None:
    # PostgreSQL cannot store it; refused at validation on every database (issue 14).
    error = refused("name", f"{before[:2]}\0{after[:2]}")
    assert error.rule == "must not contain the NUL character (\\u0000)"
    with pytest.raises(ValidationError):
        Needs(code="\0")


def test_unknown_fields_are_ignored_and_not_kept() -> None:
    model = validate_wire(Needs, {"code": "A1", "vendorExtra": "x"})
    assert to_wire(model) == {"code": "A1"}
    assert not hasattr(model, "vendorExtra")


def test_models_are_immutable() -> None:
    model = validate_wire(Needs, {"code": "A1"})
    with pytest.raises(ValidationError):
        model.code = "B2"  # type: ignore[misc]


@pytest.mark.parametrize("payload", [[], "code=A1", 7, None])
def test_a_body_that_is_not_an_object_is_refused(payload: object) -> None:
    with pytest.raises(MessageInvalid) as info:
        validate_wire(Needs, payload)
    assert (info.value.field, info.value.rule) == ("data", "must be a JSON object")


def test_message_invalid_says_field_and_rule() -> None:
    error = MessageInvalid("performanceBond", "must be an amount with exactly two decimals, e.g. 125000.00")
    assert isinstance(error, Exception)
    assert str(error) == "performanceBond: must be an amount with exactly two decimals, e.g. 125000.00"
    assert (error.field, error.rule) == (
        "performanceBond",
        "must be an amount with exactly two decimals, e.g. 125000.00",
    )


def test_to_wire_omits_none_and_can_rename_for_a_profile() -> None:
    model = Sample(name="保函", months=12)
    assert to_wire(model) == {"months": "12", "name": "保函"}
    assert to_wire(model, rename={"name": "fileName"}) == {"months": "12", "fileName": "保函"}
