"""Tender file encryption: SM4-CBC/PKCS#7 over the whole file, sliced, streamed both ways, digest checked."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import DecryptionError, sm3_hex, sm4_decrypt, sm4_encrypt
from baohan.protocols.tender.files import (
    EncryptedFile,
    FileDecryptor,
    FileDigestMismatch,
    FileKey,
    decrypt_file,
)

SLICE = 64  # small slices so that the boundaries are exercised cheaply
EDGES = [0, 1, 15, 16, 17, SLICE - 1, SLICE, SLICE + 1, 2 * SLICE - 17, 2 * SLICE - 16, 2 * SLICE + 1]


def chunked(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """``data`` cut at the given sizes in turn (cycled), the rest in one piece."""
    at, turn = 0, 0
    while at < len(data):
        size = sizes[turn % len(sizes)] if sizes else len(data)
        yield data[at : at + max(size, 1)]
        at, turn = at + max(size, 1), turn + 1


def md5(data: bytes) -> str:
    """The spec's file digest (not a security boundary)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


lengths = st.sampled_from(EDGES) | st.integers(0, 5 * SLICE)
cuts = st.lists(st.integers(1, 3 * SLICE), max_size=4)


@given(lengths, cuts, cuts, st.sampled_from([1, 16, SLICE, 100]), st.integers(1, 3))
def test_any_file_round_trips_in_slices(
    length: int, reads: list[int], feeds: list[int], slice_size: int, workers: int
) -> None:
    plain = os.urandom(length)
    key = FileKey.fresh()
    encrypted = EncryptedFile(chunked(plain, reads), key, slice_size=slice_size)
    slices = list(encrypted)
    ciphertext = b"".join(slices)
    # Whole-file SM4-CBC/PKCS#7, cut in slices of exactly slice_size, the last shorter and none empty.
    assert ciphertext == sm4_encrypt(key.key, plain, "cbc", key.iv)
    assert all(len(s) == slice_size for s in slices[:-1]) and 0 < len(slices[-1]) <= slice_size
    assert encrypted.slices == len(slices) and encrypted.size == length
    assert encrypted.digest == md5(plain)
    # The receiver may get the bytes in other pieces than they were sent in.
    # Ranges decrypted on ``workers`` threads come back in order, the same as one thread's.
    back = list(decrypt_file(chunked(ciphertext, feeds), key, expected=encrypted.digest, workers=workers))
    assert b"".join(back) == plain and all(back)


@pytest.mark.parametrize("length", EDGES)
def test_sm3_digest_option(length: int) -> None:
    plain = os.urandom(length)
    key = FileKey.fresh()
    encrypted = EncryptedFile([plain], key, slice_size=SLICE, digest="sm3")
    slices = list(encrypted)
    assert encrypted.digest == sm3_hex(plain)
    decryptor = FileDecryptor(key, digest="sm3", expected=encrypted.digest.upper())
    out = b"".join(decryptor.update(s) for s in slices) + decryptor.finalize()
    assert out == plain and decryptor.hexdigest == encrypted.digest and decryptor.size == length


def test_default_slices_are_one_mebibyte() -> None:
    plain = os.urandom(3 * 2**20 + 5)
    key = FileKey.fresh()
    slices = list(EncryptedFile([plain[: 2**19], plain[2**19 :]], key))
    assert [len(s) for s in slices] == [2**20, 2**20, 2**20, 16]
    assert sm4_decrypt(key.key, b"".join(slices), "cbc", key.iv) == plain


def test_digest_only_after_the_last_slice() -> None:
    encrypted = EncryptedFile([b"abc"], FileKey.fresh())
    with pytest.raises(RuntimeError, match="once every slice"):
        _ = encrypted.digest
    list(encrypted)
    assert encrypted.digest == md5(b"abc")


def test_wrong_digest_is_refused_naming_the_field() -> None:
    key = FileKey.fresh()
    slices = list(EncryptedFile([b"guarantee"], key))
    stream = decrypt_file(slices, key, expected="0" * 32)
    with pytest.raises(
        FileDigestMismatch, match=r"^baohanfilemd5: expected 0{32}, the decrypted file has [0-9a-f]{32}"
    ):
        list(stream)


def test_without_an_expected_digest_it_is_still_computed() -> None:
    key = FileKey.fresh()
    slices = list(EncryptedFile([b"guarantee"], key))
    decryptor = FileDecryptor(key)
    assert decryptor.update(slices[0]) == b"" and decryptor.finalize() == b"guarantee"
    assert decryptor.hexdigest == md5(b"guarantee")
    no_digest = FileDecryptor(key, digest=None)
    assert no_digest.update(slices[0]) + no_digest.finalize() == b"guarantee" and no_digest.hexdigest is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda ct: ct[:-1], "not a whole number of 16-byte blocks"),
        (lambda ct: ct[:-16], "bad padding"),
        (lambda ct: b"", "bad padding"),
    ],
)
@pytest.mark.parametrize("workers", [1, 2])
def test_damaged_ciphertext_is_refused(damage: object, message: str, workers: int) -> None:
    key = FileKey.fresh()
    ciphertext = b"".join(EncryptedFile([os.urandom(40)], key))
    with pytest.raises(DecryptionError, match=f"^baohanfile: .*{message}"):
        list(decrypt_file(chunked(damage(ciphertext), [16]), key, workers=workers))  # type: ignore[operator]


@given(st.integers(0, 300), st.integers(0, 10_000), st.integers(1, 3))
def test_a_damaged_slice_never_passes_the_digest(length: int, where: int, workers: int) -> None:
    plain = os.urandom(length)
    key = FileKey.fresh()
    encrypted = EncryptedFile([plain], key, slice_size=32)
    ciphertext = bytearray(b"".join(encrypted))
    ciphertext[where % len(ciphertext)] ^= 0x80
    with pytest.raises((DecryptionError, FileDigestMismatch)):
        list(decrypt_file(chunked(bytes(ciphertext), [32]), key, expected=encrypted.digest, workers=workers))


def test_wrong_key_is_refused() -> None:
    key = FileKey.fresh()
    ciphertext = b"".join(EncryptedFile([os.urandom(40)], key))
    wrong = FileKey(os.urandom(16), key.iv)
    with pytest.raises((DecryptionError, FileDigestMismatch)):
        list(decrypt_file([ciphertext], wrong, expected=md5(b"x")))


def test_key_and_slice_size_checked() -> None:
    with pytest.raises(ValueError, match="16 bytes each"):
        FileKey(b"short", b"0" * 16)
    with pytest.raises(ValueError, match="slice_size must be at least 1"):
        EncryptedFile([b""], slice_size=0)
    with pytest.raises(ValueError, match="file_digest must be md5 or sm3"):
        EncryptedFile([b""], digest="sha1")  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [1, 2])
def test_memory_is_bounded_by_a_slice(workers: int) -> None:
    size, slice_size = 24 * 2**20, 2**20
    chunk = os.urandom(2**20)
    key = FileKey.fresh()

    def source() -> Iterator[bytes]:
        for _ in range(size // len(chunk)):
            yield chunk

    tracemalloc.start()
    try:
        encrypted = EncryptedFile(source(), key, slice_size=slice_size)
        decryptor = FileDecryptor(key, workers=workers)
        total = 0
        for piece in encrypted:
            total += len(decryptor.update(piece))
        total += len(decryptor.finalize())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size and decryptor.hexdigest == encrypted.digest
    assert peak < 6 * slice_size, f"peak {peak / 2**20:.1f} MiB for a {size / 2**20:.0f} MiB file"


def test_an_abandoned_file_stops_its_decrypting_threads() -> None:
    key = FileKey.fresh()
    slices = list(EncryptedFile([os.urandom(5 * SLICE)], key, slice_size=SLICE))
    stream = decrypt_file(slices, key, workers=2)
    assert next(stream)
    stream.close()  # as when the store refuses the file half way
    assert not [t for t in threading.enumerate() if t.name.startswith("sm4-cbc")]


def test_a_truncated_file_stops_its_decrypting_threads_too() -> None:
    key = FileKey.fresh()
    decryptor = FileDecryptor(key, workers=2)
    decryptor.update(b"".join(EncryptedFile([os.urandom(100)], key))[:-1])
    with pytest.raises(DecryptionError, match="16-byte blocks"):
        decryptor.finalize()
    assert not [t for t in threading.enumerate() if t.name.startswith("sm4-cbc")]
