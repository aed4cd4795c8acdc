"""Wire JSON: what the standard parser accepts, except strings that are not Unicode text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.protocols.wirejson import NotUnicode, parse_json

# JSON values whose strings are real text (no lone surrogates), escaped or not on the way out.
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(values, st.booleans())
def test_real_text_parses_as_the_standard_parser_reads_it(value: object, ascii_only: bool) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert parse_json(raw) == json.loads(raw)


@given(st.integers(min_value=0xD800, max_value=0xDFFF), st.sampled_from(["{:04x}", "{:04X}"]))
def test_a_lone_surrogate_escape_is_refused_wherever_it_hides(code: int, form: str) -> None:
    escape = "\\u" + form.format(code)
    for raw in (f'"{escape}"', f'{{"a": ["x", "{escape}"]}}', f'{{"{escape}": 1}}'):
        with pytest.raises(NotUnicode, match="lone surrogate"):
            parse_json(raw.encode())


def test_a_surrogate_pair_is_one_character() -> None:
    assert parse_json(b'{"name": "\\ud83d\\ude00"}') == {"name": "\U0001f600"}


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"\xff{}", UnicodeDecodeError),
        ('{"a": "b"}'.encode("utf-16"), UnicodeDecodeError),
        (b"{", json.JSONDecodeError),
    ],
)
def test_what_is_not_utf8_json_fails_as_such(raw: bytes, error: type[ValueError]) -> None:
    with pytest.raises(error):
        parse_json(raw)
