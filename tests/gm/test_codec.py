"""Hex and Base64 decoding: the fast paths decide exactly as the careful ones."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm.codec import decode, from_base64, from_hex, looks_hex
from baohan.gm.errors import EncodingError

spaces = st.sampled_from(["", " ", "\n", "\r\n  "])


@given(st.binary(max_size=300), spaces)
def test_hex_with_or_without_whitespace(data: bytes, gap: str) -> None:
    text = gap.join(data.hex()[i : i + 8] for i in range(0, len(data) * 2, 8))
    assert decode(text, "hex") == data
    if data:
        assert decode(text, "auto") == data


@given(st.binary(min_size=1, max_size=300), spaces, st.booleans())
def test_base64_standard_url_safe_and_unpadded(data: bytes, gap: str, url_safe: bool) -> None:
    text = (base64.urlsafe_b64encode(data) if url_safe else base64.b64encode(data)).decode()
    text = gap.join(text[i : i + 16] for i in range(0, len(text), 16))
    assert from_base64(text) == data
    assert from_base64(text.rstrip("=")) == data
    if not looks_hex(text):
        assert decode(text, "auto") == data


@given(st.text(alphabet="0123456789abcdefABCDEF+/= \n", max_size=40))
def test_auto_takes_hex_exactly_when_every_character_is_a_hex_digit(text: str) -> None:
    try:
        got: bytes | None = decode(text, "auto")
    except EncodingError:
        got = None
    if looks_hex(text):
        assert got == from_hex(text)
    else:
        try:
            expected: bytes | None = from_base64(text)
        except EncodingError:
            expected = None
        assert got == expected


@pytest.mark.parametrize(
    ("text", "encoding"), [("abc", "hex"), ("zz", "hex"), ("a$b=", "base64"), ("abcde", "base64")]
)
def test_malformed_text_names_the_field(text: str, encoding: str) -> None:
    with pytest.raises(EncodingError, match=r"^data is not valid"):
        decode(text, encoding, "data")  # type: ignore[arg-type]
