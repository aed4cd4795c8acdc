"""SM3 (GB/T 32905) hashing and HMAC-SM3, one-shot and streaming, on OpenSSL through ``cryptography``."""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes, hmac

DIGEST_SIZE = 32
_CHUNK = 1 << 20
_GIL_PIECE = 2047  # CPython's hashlib releases the GIL from 2048 bytes
_KEEP_GIL_UP_TO = 64 * 1024
_HASHLIB_SM3 = hashlib.new("sm3") if "sm3" in hashlib.algorithms_available else None


class SM3Hasher:
    """Incremental SM3 (or HMAC-SM3 when given a key) for inputs too large to hold at once."""

    def __init__(self, hmac_key: bytes | None = None) -> None:
        self._ctx: hashes.Hash | hmac.HMAC = (
            hashes.Hash(hashes.SM3()) if hmac_key is None else hmac.HMAC(hmac_key, hashes.SM3())
        )

    def update(self, data: bytes) -> SM3Hasher:
        """Feed more input; returns self so calls chain."""
        self._ctx.update(data)
        return self

    def digest(self) -> bytes:
        """The 32-byte digest; the hasher cannot be fed after this."""
        return self._ctx.finalize()

    def hexdigest(self) -> str:
        """The digest as 64 lowercase hex characters."""
        return self.digest().hex()


def sm3(data: bytes) -> bytes:
    """SM3 digest of ``data`` (32 bytes)."""
    if _HASHLIB_SM3 is not None:
        # hashlib (OpenSSL too) keeps the GIL for short inputs: three digests per request each cost a GIL
        # hand-off through ``cryptography``, more than the hashing itself.
        hasher = _HASHLIB_SM3.copy()  # a copy skips hashlib.new's lookup of the name, which costs more
        if len(data) <= _KEEP_GIL_UP_TO:
            # hashlib gives up the GIL for 2 KB or more; for a few kilobytes (a request's data) retaking it
            # costs more than the hashing, so feed it in pieces just under that size.
            view = memoryview(data)
            for at in range(0, len(data), _GIL_PIECE):
                hasher.update(view[at : at + _GIL_PIECE])
        else:
            hasher.update(data)
        return hasher.digest()
    return SM3Hasher().update(data).digest()


def sm3_hex(data: bytes) -> str:
    """SM3 digest of ``data`` as lowercase hex."""
    return sm3(data).hex()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 of ``data`` under ``key`` (RFC 2104 with SM3)."""
    return SM3Hasher(key).update(data).digest()


def sm3_stream(source: BinaryIO, hmac_key: bytes | None = None, chunk_size: int = _CHUNK) -> bytes:
    """SM3 (or HMAC-SM3) of everything readable from ``source``, in constant memory."""
    hasher = SM3Hasher(hmac_key)
    while chunk := source.read(chunk_size):
        hasher.update(chunk)
    return hasher.digest()
