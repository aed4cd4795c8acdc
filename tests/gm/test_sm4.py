"""SM4: the GB/T 32907 examples, modes and padding, streaming in constant memory, clear errors."""

from __future__ import annotations

import io
import os
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import (
    DecryptionError,
    GMError,
    SM4CBCParallelDecryptor,
    SM4Decryptor,
    SM4Encryptor,
    SM4Mode,
    sm4_decrypt,
    sm4_encrypt,
)
from baohan.gm.sm4 import sm4_decrypt_stream, sm4_encrypt_stream

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
KEYS = st.binary(min_size=16, max_size=16)


def test_gbt_32907_example_1() -> None:
    assert sm4_encrypt(KEY, KEY, "ecb", pad=False).hex() == "681edf34d206965e86b3e94f536e4246"
    assert sm4_decrypt(KEY, bytes.fromhex("681edf34d206965e86b3e94f536e4246"), pad=False) == KEY


def test_gbt_32907_example_2_one_million_rounds() -> None:
    enc = SM4Encryptor(KEY, SM4Mode.ECB, pad=False)
    block = KEY
    for _ in range(1_000_000):
        block = enc.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


@given(KEYS, st.binary(min_size=16, max_size=16), st.binary(max_size=3000), st.sampled_from(["ecb", "cbc"]))
def test_round_trip_with_padding(key: bytes, iv: bytes, data: bytes, mode: str) -> None:
    v = iv if mode == "cbc" else None
    ct = sm4_encrypt(key, data, mode, v)
    assert len(ct) == (len(data) // 16 + 1) * 16
    assert sm4_decrypt(key, ct, mode, v) == data


@given(KEYS, st.binary(min_size=16, max_size=16), st.integers(min_value=0, max_value=40))
def test_round_trip_without_padding_for_whole_blocks(key: bytes, iv: bytes, blocks: int) -> None:
    data = os.urandom(16 * blocks)
    ct = sm4_encrypt(key, data, "cbc", iv, pad=False)
    assert len(ct) == len(data)
    assert sm4_decrypt(key, ct, "cbc", iv, pad=False) == data


@given(KEYS, st.binary(max_size=5000), st.integers(min_value=1, max_value=999))
def test_streaming_in_any_chunks_equals_one_shot(key: bytes, data: bytes, chunk: int) -> None:
    iv = bytes(16)
    enc, out = SM4Encryptor(key, "cbc", iv), b""
    for i in range(0, len(data), chunk):
        out += enc.update(data[i : i + chunk])
    out += enc.finalize()
    assert out == sm4_encrypt(key, data, "cbc", iv)
    dec, back = SM4Decryptor(key, "cbc", iv), b""
    for i in range(0, len(out), chunk):
        back += dec.update(out[i : i + chunk])
    assert back + dec.finalize() == data


class _Zeros(io.RawIOBase):
    """A 64 MiB readable stream that never exists in memory at once."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.count = 0
        self.hasher = __import__("hashlib").sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.count += len(b)
        self.hasher.update(b)
        return len(b)


def test_streaming_a_large_file_uses_constant_memory() -> None:
    size = 64 * 1024 * 1024
    key, iv = os.urandom(16), os.urandom(16)
    tracemalloc.start()
    sink = _Sink()
    written = sm4_encrypt_stream(key, _Zeros(size), sink, "cbc", iv)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert written == sink.count == size + 16
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte file"


def test_stream_decrypt_round_trips() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    data = os.urandom(3 * 1024 * 1024 + 5)
    ct = io.BytesIO()
    sm4_encrypt_stream(key, io.BytesIO(data), ct, "cbc", iv, chunk_size=65536)
    back = io.BytesIO()
    sm4_decrypt_stream(key, io.BytesIO(ct.getvalue()), back, "cbc", iv, chunk_size=4096)
    assert back.getvalue() == data


def test_wrong_key_is_a_clear_error_not_garbage() -> None:
    ct = sm4_encrypt(KEY, b"guarantee letter " * 10)
    wrong = bytes(16)
    failures = 0
    for i in range(64):
        try:
            out = sm4_decrypt(wrong[:-1] + bytes([i]), ct)
        except DecryptionError as exc:
            assert "padding" in str(exc)  # noqa: PT017 - counting failures, not expecting one
            failures += 1
        else:
            assert out != b"guarantee letter " * 10
    assert failures >= 56  # a random key passes PKCS#7 about 1 time in 256


def test_truncated_ciphertext_is_refused() -> None:
    ct = sm4_encrypt(KEY, b"x" * 40)
    with pytest.raises(DecryptionError, match="16-byte blocks"):
        sm4_decrypt(KEY, ct[:-3])
    with pytest.raises(DecryptionError, match="empty"):
        sm4_decrypt(KEY, b"")


@pytest.mark.parametrize(
    ("key", "mode", "iv", "message"),
    [
        (b"short", "ecb", None, "16 bytes"),
        (KEY, "cbc", None, "iv"),
        (KEY, "cbc", b"123", "iv"),
        (KEY, "ecb", bytes(16), "no iv"),
    ],
)
def test_bad_parameters_name_the_problem(key: bytes, mode: str, iv: bytes | None, message: str) -> None:
    with pytest.raises(GMError, match=message):
        sm4_encrypt(key, b"data", mode, iv)


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="gcm"):
        sm4_encrypt(KEY, b"data", "gcm")


def test_no_padding_needs_whole_blocks() -> None:
    with pytest.raises(GMError, match="whole 16-byte blocks"):
        sm4_encrypt(KEY, b"odd length", pad=False)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given sizes in turn (cycled), the rest in one piece."""
    out, at, turn = [], 0, 0
    while at < len(data):
        size = max(cuts[turn % len(cuts)], 1) if cuts else len(data)
        out.append(data[at : at + size])
        at, turn = at + size, turn + 1
    return out


@given(
    KEYS,
    st.binary(min_size=16, max_size=16),
    st.binary(max_size=3000),
    st.lists(st.integers(1, 700), max_size=5),
    st.integers(1, 4),
)
def test_parallel_cbc_decryption_equals_sequential(
    key: bytes, iv: bytes, data: bytes, cuts: list[int], workers: int
) -> None:
    ciphertext = sm4_encrypt(key, data, "cbc", iv)
    parallel = SM4CBCParallelDecryptor(key, iv, workers=workers)
    early = b"".join(parallel.update(piece) for piece in _pieces(ciphertext, cuts))
    # In order, and the last block is always held back for its padding.
    assert len(early) <= len(ciphertext) - 16
    assert early + parallel.finalize() == data


@given(KEYS, st.binary(min_size=16, max_size=16), st.binary(max_size=600), st.integers(0, 10_000))
def test_parallel_cbc_decryption_refuses_what_the_sequential_one_does(
    key: bytes, iv: bytes, data: bytes, where: int
) -> None:
    ciphertext = bytearray(sm4_encrypt(key, data, "cbc", iv))
    ciphertext[-1 - where % 16] ^= 1  # a bit flipped in the last block: its padding is garbage
    damaged = [bytes(ciphertext), bytes(ciphertext[:-1]), bytes(ciphertext[:-16])]
    for bad in damaged:
        try:
            expected: bytes | type[DecryptionError] = sm4_decrypt(key, bad, "cbc", iv)
        except DecryptionError:
            expected = DecryptionError
        parallel = SM4CBCParallelDecryptor(key, iv, workers=2)
        try:
            got: bytes | type[DecryptionError] = b"".join(
                [*(parallel.update(p) for p in _pieces(bad, [48, 32])), parallel.finalize()]
            )
        except DecryptionError:
            got = DecryptionError
        assert got == expected


def test_parallel_cbc_errors_name_the_problem() -> None:
    ct = sm4_encrypt(KEY, b"x" * 40, "cbc", bytes(16))
    truncated = SM4CBCParallelDecryptor(KEY, bytes(16))
    truncated.update(ct[:-3])
    with pytest.raises(DecryptionError, match="16-byte blocks"):
        truncated.finalize()
    with pytest.raises(DecryptionError, match="bad padding"):
        SM4CBCParallelDecryptor(KEY, bytes(16)).finalize()
    with pytest.raises(GMError, match="iv"):
        SM4CBCParallelDecryptor(KEY, b"123")
    with pytest.raises(GMError, match="workers"):
        SM4CBCParallelDecryptor(KEY, bytes(16), workers=0)


def test_parallel_cbc_decryption_holds_a_few_pieces() -> None:
    piece, count, workers = 1 << 20, 24, 2
    iv = bytes(16)
    encryptor = SM4Encryptor(KEY, "cbc", iv)
    block = os.urandom(piece)
    slices = [encryptor.update(block) for _ in range(count)] + [encryptor.finalize()]
    tracemalloc.start()
    try:
        parallel = SM4CBCParallelDecryptor(KEY, iv, workers=workers)
        total = sum(len(parallel.update(s)) for s in slices) + len(parallel.finalize())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == piece * count
    # The slices themselves were allocated before tracing: what is traced is plaintext and the join.
    assert peak < (workers + 3) * piece, f"peak {peak / 2**20:.1f} MiB"
