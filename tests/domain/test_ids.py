"""Record ids are RFC 9562 version-7 UUIDs: the time leads, so later ids sort after earlier ones."""

from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.ids import new_id, uuid7

MAX_NS = (1 << 48) * 1_000_000 - 1


@given(st.integers(min_value=0, max_value=MAX_NS))
def test_layout_is_version_7_with_the_time_in_front(now_ns: int) -> None:
    value = uuid7(now_ns)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert value.int >> 80 == now_ns // 1_000_000


@given(
    st.integers(min_value=0, max_value=MAX_NS - 1_000_000), st.integers(min_value=1_000_000, max_value=10**12)
)
def test_a_later_millisecond_sorts_later_as_text(earlier: int, gap: int) -> None:
    later = min(earlier + gap, MAX_NS)
    assert str(uuid7(earlier)) < str(uuid7(later))


def test_ids_of_one_millisecond_differ_in_their_random_bits() -> None:
    ids = {uuid7(1_700_000_000_000_000_000) for _ in range(1000)}
    assert len(ids) == 1000


def test_new_id_is_the_36_character_text_form() -> None:
    before = time.time_ns() // 1_000_000
    texts = [new_id() for _ in range(200)]
    after = time.time_ns() // 1_000_000
    for text in texts:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # exactly uuid's own lower-case 8-4-4-4-12 form
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after
    assert len(set(texts)) == 200


@pytest.mark.parametrize("now_ns", [-1, (1 << 48) * 1_000_000])
def test_times_outside_48_bits_of_milliseconds_are_refused(now_ns: int) -> None:
    with pytest.raises(ValueError, match="UUIDv7 range"):
        uuid7(now_ns)


def test_new_ids_increase_strictly_even_within_one_millisecond() -> None:
    texts = [new_id() for _ in range(5000)]  # thousands a millisecond: many share their time bits
    assert texts == sorted(texts) and len(set(texts)) == len(texts)
    assert len({t[:13] for t in texts}) < len(texts)  # the case under test really occurred
    for text in texts[:50]:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122


@given(
    st.integers(min_value=0, max_value=(1 << 48) - 2), st.integers(0, 0xFFF), st.integers(0, (1 << 62) - 1)
)
def test_the_successor_of_an_id_is_the_next_larger_valid_id(millis: int, rand_a: int, rand_b: int) -> None:
    from baohan.domain.ids import _successor

    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    after = uuid.UUID(int=_successor(value))
    assert after.int > value and after.version == 7 and after.variant == uuid.RFC_4122
    if rand_b < (1 << 62) - 1:
        assert after.int == value + 1
