"""The tender sign: the string it covers, the four methods, HMAC-SM3 proven against the OpenSSL CLI."""

from __future__ import annotations

import subprocess
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from baohan.protocols.tender.sign import compute, matches, sign_string, signed
from tests.peers import require

FIELDS = {
    "timestamp": "2026-11-30 12:00:00",
    "appkey": "AK1",
    "sign": "ignored",
    "applyno": "A-1",
    "empty": "",
    "none": None,
    "amount": Decimal("100.50"),
    "count": 3,
}
STRING = "amount=100.50&appkey=AK1&applyno=A-1&count=3&timestamp=2026-11-30 12:00:00"


def test_the_string_drops_sign_and_empty_values_and_sorts_in_ascii_order() -> None:
    assert sign_string(FIELDS) == STRING
    # Upper case sorts before lower case in ASCII.
    assert sign_string({"b": "1", "B": "2", "a": "3"}) == "B=2&a=3&b=1"
    assert sign_string({"flag": True, "list": [1, "x"]}) == 'flag=true&list=[1,"x"]'


def _openssl(*args: str, data: str) -> str:
    tool = require("openssl")
    out = subprocess.run([tool, *args], input=data.encode("utf-8"), capture_output=True, check=True)
    return out.stdout.decode().strip().rsplit(" ", 1)[-1].lower()


def test_hmac_sm3_matches_the_openssl_cli() -> None:
    secret = "s3cr3t-应用密钥"
    expected = _openssl(
        "mac", "-digest", "SM3", "-macopt", f"hexkey:{secret.encode().hex()}", "HMAC", data=STRING
    )
    assert compute(FIELDS, secret, "hmac-sm3") == expected
    assert len(expected) == 64


def test_plain_sm3_methods_match_the_openssl_cli() -> None:
    secret = "S"
    for method, tail in (("sm3", "S"), ("sm3-key", "&key=S"), ("sm3-appsecret", "&appsecret=S")):
        assert compute(FIELDS, secret, method) == _openssl("dgst", "-sm3", data=STRING + tail)


def test_check_is_case_insensitive_and_refuses_missing_or_wrong_signs() -> None:
    message = signed(FIELDS, "k", "hmac-sm3")
    assert matches(message, "k", "hmac-sm3")
    assert matches({**message, "sign": message["sign"].upper()}, "k", "hmac-sm3")
    assert not matches(message, "other", "hmac-sm3")
    assert not matches(message, "k", "sm3")
    assert not matches({k: v for k, v in message.items() if k != "sign"}, "k", "hmac-sm3")
    assert not matches({**message, "sign": ""}, "k", "hmac-sm3")
    assert not matches({**message, "sign": 12}, "k", "hmac-sm3")
    assert not matches({**message, "sign": "签名"}, "k", "hmac-sm3")


keys = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="=&"), min_size=1, max_size=8
)
values = st.text(min_size=1, max_size=12)
messages = st.dictionaries(keys.filter(lambda k: k != "sign"), values, min_size=1, max_size=8)
methods = st.sampled_from(["hmac-sm3", "sm3", "sm3-key", "sm3-appsecret"])


@given(messages, methods, st.randoms())
def test_field_order_is_irrelevant(message: dict[str, str], method: str, rnd: object) -> None:
    items = list(message.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    assert compute(dict(items), "k", method) == compute(message, "k", method)  # type: ignore[arg-type]


@given(messages, methods, st.dictionaries(keys, st.sampled_from(["", None]), max_size=3))
def test_empty_values_are_irrelevant(
    message: dict[str, str], method: str, empties: dict[str, object]
) -> None:
    padded = {**{k: v for k, v in empties.items() if k not in message}, **message}
    assert compute(padded, "k", method) == compute(message, "k", method)  # type: ignore[arg-type]


@given(messages, methods, st.data())
def test_any_single_field_change_changes_the_sign(
    message: dict[str, str], method: str, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(sorted(message)))
    new = data.draw(values.filter(lambda v: v != message[key]))
    assert compute({**message, key: new}, "k", method) != compute(message, "k", method)  # type: ignore[arg-type]
