"""Digital envelope (数字信封, spec 000 §9.3.3): a fresh SM4 key encrypts the payload, SM2 seals the key.

On the procurement wire ``data`` is the SM4 ciphertext and ``sign`` the SM2-sealed key. In CBC mode the
random iv travels as the first 16 bytes of ``data``.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from baohan.gm.ciphertext import Layout
from baohan.gm.errors import DecryptionError
from baohan.gm.sm2 import SM2PrivateKey, SM2PublicKey
from baohan.gm.sm4 import BLOCK, KEY_SIZE, SM4Mode, sm4_decrypt, sm4_encrypt


@dataclass(frozen=True, slots=True)
class Envelope:
    """A sealed payload: ``data`` (SM4 ciphertext, iv first in CBC) and ``sealed_key`` (SM2 ciphertext)."""

    data: bytes
    sealed_key: bytes


def seal(
    payload: bytes,
    recipient: SM2PublicKey,
    *,
    layout: Layout | str = Layout.C1C3C2,
    prefix: bool = True,
    sm4_mode: SM4Mode | str = SM4Mode.ECB,
) -> Envelope:
    """Encrypt ``payload`` under a fresh SM4 key and seal that key for ``recipient``."""
    key = os.urandom(KEY_SIZE)
    if SM4Mode(sm4_mode) is SM4Mode.CBC:
        iv = os.urandom(BLOCK)
        data = iv + sm4_encrypt(key, payload, SM4Mode.CBC, iv)
    else:
        data = sm4_encrypt(key, payload, SM4Mode.ECB)
    return Envelope(data=data, sealed_key=recipient.encrypt(key, layout=layout, prefix=prefix))


def open_envelope(
    envelope: Envelope,
    private_key: SM2PrivateKey,
    *,
    layout: Layout | str = "auto",
    sm4_mode: SM4Mode | str = SM4Mode.ECB,
) -> bytes:
    """The payload of ``envelope``; the sealed key may be 16 raw bytes or their 32 hex characters."""
    key = open_key(envelope.sealed_key, private_key, layout=layout)
    if SM4Mode(sm4_mode) is SM4Mode.CBC:
        if len(envelope.data) < 2 * BLOCK:
            raise DecryptionError("envelope data is too short for SM4-CBC (iv and one block)")
        return sm4_decrypt(key, envelope.data[BLOCK:], SM4Mode.CBC, envelope.data[:BLOCK])
    return sm4_decrypt(key, envelope.data, SM4Mode.ECB)


def open_key(
    sealed_key: bytes,
    private_key: SM2PrivateKey,
    *,
    layout: Layout | str = "auto",
    prefix: bool | None = None,
) -> bytes:
    """The 16-byte SM4 key SM2-sealed in ``sealed_key``, sealed as the raw bytes or as their 32 hex characters."""
    key = private_key.decrypt(sealed_key, layout=layout, prefix=prefix)
    if len(key) == 2 * KEY_SIZE:
        # Many Java peers seal the key as its hex string rather than the 16 raw bytes.
        with contextlib.suppress(UnicodeDecodeError, ValueError):
            key = bytes.fromhex(key.decode("ascii"))
    if len(key) != KEY_SIZE:
        raise DecryptionError(f"envelope key must be {KEY_SIZE} bytes, got {len(key)}")
    return key
