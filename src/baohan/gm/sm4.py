"""SM4 (GB/T 32907) in ECB and CBC with PKCS#7 padding or none, one-shot and streaming."""

from __future__ import annotations

import hmac
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from baohan.gm.errors import DecryptionError, GMError

BLOCK = 16
KEY_SIZE = 16
_CHUNK = 1 << 20


class SM4Mode(StrEnum):
    """Block modes the protocols use; ECB is the procurement envelope's default."""

    ECB = "ecb"
    CBC = "cbc"


def _cipher(key: bytes, mode: SM4Mode | str, iv: bytes | None) -> Cipher[modes.CBC] | Cipher[modes.ECB]:
    mode = SM4Mode(mode)
    if len(key) != KEY_SIZE:
        raise GMError(f"SM4 key must be {KEY_SIZE} bytes, got {len(key)}")
    if mode is SM4Mode.CBC:
        if iv is None or len(iv) != BLOCK:
            raise GMError(f"SM4-CBC needs a {BLOCK}-byte iv")
        return Cipher(algorithms.SM4(key), modes.CBC(iv))
    if iv is not None:
        raise GMError("SM4-ECB takes no iv")
    # The protocols mandate SM4-ECB for the digital envelope (spec 000 §4; spec 004 likewise): each
    # envelope key encrypts one short random payload key, so ECB's block-pattern leak has nothing to show.
    return Cipher(algorithms.SM4(key), modes.ECB())  # noqa: S305 - mandated, see above  # nosec B305


class SM4Encryptor:
    """Streaming encryption: ``update`` any number of chunks, then ``finalize`` once.

    PKCS#7 is added at ``finalize`` from the length seen, rather than by a padder object, which would copy
    every chunk once more (a whole guarantee file is encrypted this way).
    """

    def __init__(
        self, key: bytes, mode: SM4Mode | str = SM4Mode.ECB, iv: bytes | None = None, *, pad: bool = True
    ) -> None:
        self._ctx: CipherContext = _cipher(key, mode, iv).encryptor()
        self._pad = pad
        self._length = 0

    def update(self, data: bytes) -> bytes:
        """Ciphertext for as many whole blocks as are now available."""
        self._length += len(data)
        return self._ctx.update(data)

    def finalize(self) -> bytes:
        """The last block(s); without padding, the input must have been whole blocks."""
        count = BLOCK - self._length % BLOCK
        tail = bytes([count]) * count if self._pad else b""
        try:
            return self._ctx.update(tail) + self._ctx.finalize()
        except ValueError:
            raise GMError("SM4 without padding needs input in whole 16-byte blocks") from None


class SM4Decryptor:
    """Streaming decryption with strict PKCS#7 removal at ``finalize``.

    With padding, each ``update`` returns the plaintext of the call before it: the last piece is held back
    for its padding whole, not copied block by block as an unpadder object would.
    """

    def __init__(
        self, key: bytes, mode: SM4Mode | str = SM4Mode.ECB, iv: bytes | None = None, *, pad: bool = True
    ) -> None:
        self._ctx: CipherContext = _cipher(key, mode, iv).decryptor()
        self._pad = pad
        self._held = b""

    def update(self, data: bytes) -> bytes:
        """Plaintext decrypted so far, less what is held back for unpadding."""
        out = self._ctx.update(data)
        if not self._pad or not out:
            return out
        ready, self._held = self._held, out
        return ready

    def finalize(self) -> bytes:
        """The remaining plaintext; DecryptionError for a truncated input or bad padding."""
        try:
            last = self._held + self._ctx.finalize()
        except ValueError:
            raise DecryptionError("SM4 ciphertext is not a whole number of 16-byte blocks") from None
        self._held = b""
        return _unpad(last) if self._pad else last


def _unpad(last: bytes) -> bytes:
    """``last`` without its PKCS#7 padding; DecryptionError when that is not well formed."""
    count = last[-1] if last else 0
    # Compared in constant time: which padding byte was wrong is nobody's business.
    if not 1 <= count <= BLOCK or not hmac.compare_digest(last[-count:], bytes([count]) * count):
        raise DecryptionError("SM4 decryption failed: bad padding (wrong key or corrupted data)")
    return last[:-count]


def _cbc_range(key: bytes, previous: bytes, blocks: bytes) -> bytes:
    # Block i of CBC needs only ciphertext block i-1: a range decrypts alone, its iv the block before it.
    ctx = Cipher(algorithms.SM4(key), modes.CBC(previous)).decryptor()
    return ctx.update(blocks) + ctx.finalize()


class SM4CBCParallelDecryptor:
    """SM4-CBC/PKCS#7 decryption of pieces fed in order, ``workers`` pieces at once on threads (CBC
    decryption is parallel; cryptography's SM4 gives up the GIL while it works, 0006).

    ``update`` returns, in order, the plaintext of pieces fed ``workers`` or more calls before (the latest
    piece is always held back for the padding); at most ``workers`` + 1 pieces and their plaintext are
    held. ``finalize`` returns the rest or raises DecryptionError; ``close`` (also done by ``finalize``)
    stops the threads.
    """

    def __init__(self, key: bytes, iv: bytes, *, workers: int = 2) -> None:
        _cipher(key, SM4Mode.CBC, iv)  # the same checks of key and iv as the sequential one
        if workers < 1:
            raise GMError(f"workers must be at least 1, got {workers}")
        self._key, self._previous, self._workers = key, iv, workers
        self._carry = b""
        self._pending: deque[Future[bytes]] = deque()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="sm4-cbc")

    def update(self, data: bytes) -> bytes:
        """Plaintext of the pieces now done that are no longer the latest."""
        whole = self._carry + data if self._carry else bytes(data)
        cut = len(whole) - len(whole) % BLOCK
        self._carry = whole[cut:]
        if cut:
            blocks = whole if cut == len(whole) else whole[:cut]
            previous, self._previous = self._previous, blocks[-BLOCK:]
            self._pending.append(self._pool.submit(_cbc_range, self._key, previous, blocks))
        ready = [self._pending.popleft().result() for _ in range(len(self._pending) - self._workers)]
        return b"".join(ready)  # one piece (the usual case) is returned as it is, not copied

    def finalize(self) -> bytes:
        """The remaining plaintext; DecryptionError for a truncated input or bad padding."""
        try:
            if self._carry:
                raise DecryptionError("SM4 ciphertext is not a whole number of 16-byte blocks")
            *done, last = [future.result() for future in self._pending] or [b""]
        finally:
            self.close()
        return b"".join([*done, _unpad(last)])

    def close(self) -> None:
        """Stop the threads and drop what is pending (after an error, say); idempotent."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)


def sm4_encrypt(
    key: bytes, data: bytes, mode: SM4Mode | str = SM4Mode.ECB, iv: bytes | None = None, *, pad: bool = True
) -> bytes:
    """SM4 ciphertext of ``data``."""
    enc = SM4Encryptor(key, mode, iv, pad=pad)
    return enc.update(data) + enc.finalize()


def sm4_decrypt(
    key: bytes, data: bytes, mode: SM4Mode | str = SM4Mode.ECB, iv: bytes | None = None, *, pad: bool = True
) -> bytes:
    """Plaintext of SM4 ``data``; DecryptionError for a wrong key, bad padding or a partial block."""
    if not data and pad:
        raise DecryptionError("SM4 ciphertext is empty")
    dec = SM4Decryptor(key, mode, iv, pad=pad)
    return dec.update(data) + dec.finalize()


def _pump(ctx: SM4Encryptor | SM4Decryptor, source: BinaryIO, sink: BinaryIO, chunk_size: int) -> int:
    written = 0
    while chunk := source.read(chunk_size):
        written += sink.write(ctx.update(chunk))
    return written + sink.write(ctx.finalize())


def sm4_encrypt_stream(
    key: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    mode: SM4Mode | str = SM4Mode.CBC,
    iv: bytes | None = None,
    *,
    chunk_size: int = _CHUNK,
) -> int:
    """Encrypt ``source`` into ``sink`` in constant memory; returns the bytes written."""
    return _pump(SM4Encryptor(key, mode, iv), source, sink, chunk_size)


def sm4_decrypt_stream(
    key: bytes,
    source: BinaryIO,
    sink: BinaryIO,
    mode: SM4Mode | str = SM4Mode.CBC,
    iv: bytes | None = None,
    *,
    chunk_size: int = _CHUNK,
) -> int:
    """Decrypt ``source`` into ``sink`` in constant memory; returns the bytes written."""
    return _pump(SM4Decryptor(key, mode, iv), source, sink, chunk_size)
