"""A guarantee file as the tender wire carries it: SM4-CBC/PKCS#7 over the whole file under a key F and iv V,
cut into slices for ``uploadbaohanfile``, with the digest of the plain file for ``baohanfilecompletenotice``.

Both directions stream (baohan.gm's SM4 contexts): memory stays within a slice or two whatever the file's
size.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from baohan.gm import (
    DecryptionError,
    SM3Hasher,
    SM4CBCParallelDecryptor,
    SM4Decryptor,
    SM4Encryptor,
    SM4Mode,
)
from baohan.protocols.chunks import rechunk

SLICE_SIZE = 1 << 20
DECRYPT_WORKERS = 2  # threads decrypting a file's slices at once; CBC decryption is parallel (0006)
BLOCK = 16
FileDigest = Literal["md5", "sm3"]
DIGEST_FIELD = "baohanfilemd5"


class FileDigestMismatch(ValueError):
    """A decrypted file whose digest is not the one announced in ``baohanfilemd5``."""


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


def _hasher(digest: FileDigest) -> _Hasher:
    if digest == "sm3":
        return SM3Hasher()
    if digest == "md5":
        return hashlib.md5(usedforsecurity=False)  # the spec's file digest; not a security boundary
    raise ValueError(f"file_digest must be md5 or sm3, not {digest!r}")


@dataclass(frozen=True, slots=True)
class FileKey:
    """F and V: the SM4 key and CBC iv one file is encrypted under."""

    key: bytes
    iv: bytes

    def __post_init__(self) -> None:
        if len(self.key) != BLOCK or len(self.iv) != BLOCK:
            raise ValueError(f"a file key and iv are {BLOCK} bytes each")

    @classmethod
    def fresh(cls) -> FileKey:
        """A random key and iv."""
        return cls(os.urandom(BLOCK), os.urandom(BLOCK))


class EncryptedFile:
    """The ciphertext slices of a plain file given as chunks; once iterated, its digest and sizes.

    Iterate once. ``digest`` is the lowercase hex digest of the whole plain file (md5 or sm3).
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        key: FileKey | None = None,
        *,
        slice_size: int = SLICE_SIZE,
        digest: FileDigest = "md5",
    ) -> None:
        if slice_size < 1:
            raise ValueError(f"slice_size must be at least 1, got {slice_size}")
        self.key = key or FileKey.fresh()
        self.slice_size = slice_size
        self.size = 0
        self.slices = 0
        self._chunks = chunks
        self._hasher = _hasher(digest)
        self._digest: str | None = None

    @property
    def digest(self) -> str:
        """Hex digest of the plain file; RuntimeError before the slices have all been taken."""
        if self._digest is None:
            raise RuntimeError("the file's digest is known once every slice has been taken")
        return self._digest

    def __iter__(self) -> Iterator[bytes]:
        for piece in rechunk(self._ciphertext(), self.slice_size):
            self.slices += 1
            yield piece

    def _ciphertext(self) -> Iterator[bytes]:
        sm4 = SM4Encryptor(self.key.key, SM4Mode.CBC, self.key.iv)
        for chunk in self._chunks:
            self._hasher.update(chunk)
            self.size += len(chunk)
            if out := sm4.update(chunk):
                yield out
        yield sm4.finalize()
        self._digest = self._hasher.hexdigest()


class FileDecryptor:
    """Decrypts a file's ciphertext fed in order, in pieces of any size, and checks its digest at the end.

    ``update`` returns the plain bytes ready so far (late: the last block's padding must wait);
    ``finalize`` returns the rest, or raises DecryptionError (truncated, bad padding) or FileDigestMismatch.
    ``digest=None`` leaves the digest to the caller (e.g. a file store that computes it anyway).
    ``workers`` (two by default) decrypts that many pieces at once on threads, so ``update`` is that many
    pieces late; ``close`` stops them when the file is abandoned before ``finalize``.
    """

    def __init__(
        self,
        key: FileKey,
        *,
        digest: FileDigest | None = "md5",
        expected: str | None = None,
        workers: int = DECRYPT_WORKERS,
    ) -> None:
        self._sm4: SM4Decryptor | SM4CBCParallelDecryptor = (
            SM4Decryptor(key.key, SM4Mode.CBC, key.iv)
            if workers == 1
            else SM4CBCParallelDecryptor(key.key, key.iv, workers=workers)
        )
        self._fed = 0
        self._hasher = _hasher(digest) if digest is not None else None
        self._expected = expected.lower() if expected is not None else None
        if self._expected is not None and self._hasher is None:
            raise ValueError("an expected digest needs a digest algorithm")
        self.size = 0
        self.hexdigest: str | None = None

    def update(self, data: bytes) -> bytes:
        """Plain bytes decrypted before ``data``'s (``data``'s own are held back)."""
        self._fed += len(data)
        return self._count(self._sm4.update(data))

    def finalize(self) -> bytes:
        """The last plain bytes, padding removed, once the digest checks out."""
        if self._fed % BLOCK:
            self.close()
            raise DecryptionError("baohanfile: the ciphertext is not a whole number of 16-byte blocks")
        try:
            tail = self._count(self._sm4.finalize())
        except DecryptionError:
            raise DecryptionError(
                "baohanfile: bad padding after SM4-CBC decryption (wrong key or iv, or damaged)"
            ) from None
        if self._hasher is not None:
            self.hexdigest = self._hasher.hexdigest()
            if self._expected is not None and self.hexdigest != self._expected:
                raise FileDigestMismatch(
                    f"{DIGEST_FIELD}: expected {self._expected}, the decrypted file has {self.hexdigest}"
                )
        return tail

    def close(self) -> None:
        """Stop the decrypting threads, if any (``finalize`` does it too)."""
        if isinstance(self._sm4, SM4CBCParallelDecryptor):
            self._sm4.close()

    def _count(self, plain: bytes) -> bytes:
        if self._hasher is not None and plain:
            self._hasher.update(plain)
        self.size += len(plain)
        return plain


def decrypt_file(
    slices: Iterable[bytes],
    key: FileKey,
    *,
    expected: str | None = None,
    digest: FileDigest | None = "md5",
    workers: int = DECRYPT_WORKERS,
) -> Iterator[bytes]:
    """The plain file in chunks from its ciphertext slices in order; the error (never a normal end) when it
    is truncated, badly padded or (``expected`` given) its digest differs. ``workers`` slices are
    decrypted at once, so as many more are held (0006)."""
    decryptor = FileDecryptor(key, digest=digest, expected=expected, workers=workers)
    try:
        for piece in slices:
            if out := decryptor.update(piece):
                yield out
        if tail := decryptor.finalize():
            yield tail
    finally:
        decryptor.close()
