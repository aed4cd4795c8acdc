"""Wire JSON: what the standard parser accepts, except strings that are not Unicode text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baohan.protocols.wirejson import MAX_DEPTH, NotUnicode, parse_json

# JSON values whose strings are real text (no lone surrogates), escaped or not on the way out.
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,  # fewer leaves than MAX_DEPTH: never nested deeper than a message may be
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


@st.composite
def _nested(draw: st.DrawFn, depth: int) -> str:
    """JSON text nested ``depth`` deep, written by hand (json.dumps itself recurses), brackets in its strings."""
    # A few drawn shapes, repeated to the depth: drawing every level would cost minutes at thousands.
    shapes = draw(
        st.lists(st.one_of(st.just(None), st.text(alphabet='[{"\\ab', max_size=3)), min_size=1, max_size=4)
    )
    levels = [shapes[level % len(shapes)] for level in range(depth)]
    opening = "".join("[" if key is None else "{" + json.dumps(key) + ":" for key in levels)
    closing = "".join("]" if key is None else "}" for key in reversed(levels))
    leaf = draw(st.one_of(st.integers(), st.text(alphabet='[]{}"\\ab', max_size=5)))
    return opening + json.dumps(leaf) + closing


@settings(max_examples=40)
@given(st.integers(min_value=MAX_DEPTH + 1, max_value=5000).flatmap(_nested))
def test_nesting_deeper_than_a_message_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(NotUnicode, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_json(text.encode())


@given(st.integers(min_value=0, max_value=MAX_DEPTH).flatmap(_nested))
def test_nesting_within_the_limit_parses_whatever_the_strings_hold(text: str) -> None:
    assert parse_json(text.encode()) == json.loads(text)


def test_exact_numbers_read_fractions_as_their_decimal_text() -> None:
    from decimal import Decimal

    value = parse_json(b'{"cost": 100.50, "rate": 0.005, "n": 3, "big": 1e2}', exact_numbers=True)
    assert value == {"cost": Decimal("100.50"), "rate": Decimal("0.005"), "n": 3, "big": Decimal("1E+2")}
    assert str(value["cost"]) == "100.50"
    assert parse_json(b"[0.1]") == [0.1]  # the default is unchanged
