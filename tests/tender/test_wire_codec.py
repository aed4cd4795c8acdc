"""The tender body codec, answers and timestamps, with property tests for the round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.protocols.fields import SHANGHAI
from baohan.protocols.tender.wire import (
    TenderError,
    body_shape,
    check_clock,
    dump_json,
    encode_answer,
    encode_body,
    format_timestamp,
    number_text,
    parse_answer,
    parse_body,
    parse_timestamp,
)

names = st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s)
strings = st.text(max_size=40).filter(lambda s: "\x00" not in s)
numbers = st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**9), max_value=10**9)
values = st.one_of(strings, numbers, st.integers(-(10**12), 10**12), st.booleans(), st.none())
messages = st.dictionaries(names, values, max_size=10)


def _exact(fields: dict[str, Any]) -> dict[str, Any]:
    # A Decimal compares by value (1.5 == 1.50): compare the text it travels as instead.
    return {k: ("#" + number_text(v) if isinstance(v, Decimal) else v) for k, v in fields.items()}


@given(messages, st.sampled_from(["json", "form"]))
def test_bodies_round_trip_exactly_in_both_shapes(fields: dict[str, Any], shape: str) -> None:
    body, _ = encode_body(fields, shape)  # type: ignore[arg-type]
    assert body_shape(body) == shape
    assert _exact(parse_body(body)) == _exact(fields)


@given(messages)
def test_a_form_body_is_pure_ascii(fields: dict[str, Any]) -> None:
    body, kind = encode_body(fields, "form")
    assert body.isascii() and kind == "application/x-www-form-urlencoded"


def test_amounts_are_written_as_their_exact_digits() -> None:
    assert dump_json({"a": Decimal("100.50"), "b": Decimal("1E+2"), "c": 3}) == '{"a":100.50,"b":100,"c":3}'
    with pytest.raises(TypeError):
        dump_json({"a": Decimal("NaN")})


def test_answers() -> None:
    assert encode_answer(True) == b'{"code":1,"message":"success","data":{}}'
    assert (
        encode_answer(True, data={"redirecturl": "u"})
        == b'{"code":1,"message":"success","data":{"redirecturl":"u"}}'
    )
    refused = parse_answer(encode_answer(False, "x" * 150))
    assert refused == (False, "x" * 100, {})
    assert parse_answer(b'{"code": "1", "message": null, "data": ""}') == (True, "", {})
    for bad in (b'{"code": true}', b'{"code": 1, "data": [1]}', b'{"code": 1, "message": 5}', b"[]"):
        with pytest.raises(TenderError, match="answer: "):
            parse_answer(bad)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)))
def test_timestamps_round_trip_to_the_second_in_shanghai(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert parse_timestamp(text) == moment.replace(microsecond=0)
    assert parse_timestamp(text).tzinfo is SHANGHAI


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30T10:00:00",
        "2026-1-30 10:00:00",
        "2026-02-30 10:00:00",
        "2026-11-30 24:00:00",
        20261130,
        "2026-11-30 10:00:00 ",
    ],
)
def test_malformed_timestamps_are_refused(text: object) -> None:
    with pytest.raises(TenderError, match="timestamp: must be a date and time yyyy-MM-dd HH:mm:ss"):
        parse_timestamp(text)
    with pytest.raises(TenderError, match="timestamp: required"):
        parse_timestamp(" ")


def test_the_clock_check_allows_the_profile_skew_either_way() -> None:
    now = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)
    check_clock(now - timedelta(seconds=300), now, 300)
    check_clock(now + timedelta(seconds=300), now, 300)
    with pytest.raises(TenderError, match="timestamp: 2026-11-30 11:54:59 is 301 seconds from our clock"):
        check_clock(now - timedelta(seconds=301), now, 300)
    with pytest.raises(TenderError):
        check_clock(now + timedelta(seconds=1), now, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"reason": "a\\u0000b"}', "reason"),
        (b'{"x": {"y": ["\\u0000"]}}', "x"),
        (b'{"k\\u0000": "v"}', "k\x00"),
        (b"requestData=%7B%22reason%22%3A%22%5Cu0000%22%7D", "reason"),
    ],
)
def test_nul_is_refused_wherever_it_hides(body: bytes, field: str) -> None:
    with pytest.raises(TenderError) as refused:
        parse_body(body)
    assert refused.value.message == f"{field}: must not contain the NUL character (\\u0000)"
    assert parse_body(b'{"reason": "a\\\\u0000b"}') == {"reason": "a\\u0000b"}  # an escaped backslash is text


def test_an_oversized_body_is_refused_in_the_protocol_shape() -> None:
    from baohan.protocols.tender.router import TenderWire

    reply = TenderWire(object(), ["quitapply"]).oversized(1024)  # type: ignore[arg-type]
    assert reply.body == b'{"code":0,"message":"request body: larger than 1024 bytes","data":{}}'
    assert reply.code == "0"
    with pytest.raises(ValueError, match="not tender interfaces: quit"):
        TenderWire(object(), ["quit"])  # type: ignore[arg-type]
