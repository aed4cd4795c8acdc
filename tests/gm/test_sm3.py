"""SM3 and HMAC-SM3: standard vectors, streaming equals one-shot, RFC 2104 structure."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import SM3Hasher, hmac_sm3, sm3, sm3_hex, sm3_stream


def test_gbt_32905_example_1_abc() -> None:
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_gbt_32905_example_2_sixty_four_bytes() -> None:
    assert sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_hmac_is_rfc2104_over_sm3() -> None:
    key, msg = b"appsecret-0123", b"appkey=a&timestamp=2026-11-23 10:00:00"
    block = key.ljust(64, b"\0")
    inner = sm3(bytes(b ^ 0x36 for b in block) + msg)
    assert hmac_sm3(key, msg) == sm3(bytes(b ^ 0x5C for b in block) + inner)


def test_hmac_key_longer_than_a_block_is_hashed_first() -> None:
    long_key = b"k" * 100
    assert hmac_sm3(long_key, b"m") == hmac_sm3(sm3(long_key), b"m")


@given(st.binary(max_size=5000), st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=8))
def test_streaming_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    hasher = SM3Hasher()
    pos = 0
    for cut in cuts:
        hasher.update(data[pos : pos + cut])
        pos += cut
    hasher.update(data[pos:])
    assert hasher.digest() == sm3(data)
    assert sm3_stream(io.BytesIO(data), chunk_size=97) == sm3(data)
    assert sm3_stream(io.BytesIO(data), hmac_key=b"k", chunk_size=33) == hmac_sm3(b"k", data)


def test_different_inputs_give_different_digests() -> None:
    assert sm3(b"abc") != sm3(b"abd")
    assert len(sm3(b"")) == 32


@given(
    st.sampled_from([0, 1, 2046, 2047, 2048, 4094, 4095, 65535, 65536, 65537, 200_000]),
    st.binary(max_size=16),
)
def test_one_shot_agrees_with_the_streaming_hasher_at_every_piece_boundary(size: int, tail: bytes) -> None:
    # The one-shot path feeds hashlib in 2047-byte pieces below 64 KiB and whole above; SM3Hasher is
    # OpenSSL through `cryptography`: an independent path to the same digest.
    data = bytes(range(256)) * (size // 256) + bytes(size % 256) + tail
    assert sm3(data) == SM3Hasher().update(data).digest()
