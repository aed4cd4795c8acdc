"""The one place that imports the SM2 backends; see docs/decisions/0001-sm2-backend.md and 0003.

Signatures and key arithmetic run on gmalglib (C; any user ID, a pluggable nonce for the standard's
examples). Encryption and decryption run on Tongsuo through tongsuopy's cffi binding: its SM2 decryption
is twice as fast, OpenSSL's constant-time code guards the long-term private key, and cffi releases the
GIL, so requests decrypt on every core.

Everything here speaks native forms: private keys as 32 bytes, public keys as ``04‖X‖Y`` (65 bytes),
signatures as raw ``r‖s`` and ciphertexts as ``04‖C1‖C3‖C2``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gmalglib.sm2 import SM2
from tongsuopy.backends.tongsuo import backend as _tongsuo
from tongsuopy.crypto.asymciphers import ec as _tongsuo_ec

from baohan.gm.ciphertext import der_to_native, native_to_der

DEFAULT_UID = b"1234567812345678"
_NonceFn = Callable[[int], bytes]


def _engine(
    *, sk: bytes | None = None, pk: bytes | None = None, uid: bytes = DEFAULT_UID, k: bytes | None = None
) -> SM2:
    # gmalglib refuses None for its optional arguments, so pass only what is set.
    if k is None:
        return SM2(sk=sk, uid=uid) if sk is not None else SM2(pk=pk, uid=uid)
    # It also reads its random bytes little-endian; a known-answer test gives k big-endian.
    nonce: _NonceFn = lambda n: k[::-1][:n]  # noqa: E731
    return SM2(sk=sk, uid=uid, rnd_fn=nonce) if sk is not None else SM2(pk=pk, uid=uid, rnd_fn=nonce)


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh (private 32 bytes, public 04‖X‖Y) pair from the backend's CSPRNG."""
    return SM2().generate_keypair()


def is_private_valid(d: bytes) -> bool:
    """True when ``d`` is a usable SM2 private scalar (1 ≤ d ≤ n-2)."""
    return len(d) == 32 and SM2.is_sk_valid(d)


def is_public_valid(point: bytes) -> bool:
    """True when ``point`` (uncompressed or compressed) lies on the SM2 curve."""
    return SM2.is_pk_valid(point)


def public_from_private(d: bytes) -> bytes:
    """The uncompressed public point of private scalar ``d``."""
    return SM2.get_pk(d)


def uncompress(point: bytes) -> bytes:
    """``04‖X‖Y`` for a compressed (02/03) or uncompressed point."""
    return SM2.convert_pk(point)


def compress(point: bytes) -> bytes:
    """The 33-byte compressed form of a public point."""
    from gmalglib.sm2 import SM2_PCMODE_COMPRESS

    return SM2.convert_pk(point, SM2_PCMODE_COMPRESS)


def sign(d: bytes, message: bytes, uid: bytes, *, _k: bytes | None = None) -> bytes:
    """SM3withSM2 over Z(uid, key)‖message; raw r‖s. ``_k`` fixes the nonce for known-answer tests only."""
    return _engine(sk=d, uid=uid, k=_k).sign(message)


def verify(point: bytes, message: bytes, signature: bytes, uid: bytes) -> bool:
    """True when raw ``r‖s`` is a valid SM3withSM2 signature of ``message``."""
    return _engine(pk=point, uid=uid).verify(message, signature)


_C3_ZERO = bytes(32)
_ENCRYPT_ATTEMPTS = 16
_ffi: Any = _tongsuo._ffi
_lib: Any = _tongsuo._lib


class _Operation:
    """One key's EVP_PKEY encrypt or decrypt, with a context per thread (contexts are not thread-safe).

    Each call into Tongsuo releases and retakes the GIL, and retaking it can wait behind other threads:
    so the context is made and initialised once per thread, and the output buffer sized from the input,
    leaving one call per operation.
    """

    __slots__ = ("_init", "_key", "_local", "_operation", "_overhead")

    def __init__(self, key: Any, init: Any, operation: Any, overhead: int) -> None:
        self._key = key  # owns (and frees) the EVP_PKEY
        self._init, self._operation, self._overhead = init, operation, overhead
        self._local = threading.local()

    def _context(self) -> Any:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = _ffi.gc(_lib.EVP_PKEY_CTX_new(self._key._evp_pkey, _ffi.NULL), _lib.EVP_PKEY_CTX_free)
            if ctx == _ffi.NULL or self._init(ctx) != 1:
                _lib.ERR_clear_error()
                raise ValueError("SM2 key could not be loaded into the backend")
            self._local.ctx = ctx
        return ctx

    def __call__(self, data: bytes) -> bytes | None:
        """The output for ``data``; None, with Tongsuo's error queue cleared, when it refuses."""
        size = _ffi.new("size_t *", len(data) + self._overhead)
        out = _ffi.new("unsigned char[]", size[0])
        if self._operation(self._context(), out, size, data, len(data)) != 1:
            _lib.ERR_clear_error()
            return None
        return bytes(_ffi.buffer(out, size[0]))


# DER SM2Cipher around a message: SEQUENCE, two INTEGERs of up to 33 bytes, C3, C2 headers.
_DER_OVERHEAD = 4 + 2 * 35 + 34 + 6


class Encryptor:
    """A public key loaded into Tongsuo, for SM2 encryption."""

    __slots__ = ("_encrypt",)

    def __init__(self, point: bytes) -> None:
        key = _tongsuo_ec.EllipticCurvePublicKey.from_encoded_point(_tongsuo_ec.SM2(), point)
        self._encrypt = _Operation(key, _lib.EVP_PKEY_encrypt_init, _lib.EVP_PKEY_encrypt, _DER_OVERHEAD)

    def encrypt(self, plaintext: bytes) -> bytes:
        """``04‖C1‖C3‖C2`` of a non-empty ``plaintext``."""
        for _ in range(_ENCRYPT_ATTEMPTS):
            der = self._encrypt(plaintext)
            native = der_to_native(der) if der is not None else None
            if native is None:
                raise ValueError("SM2 encryption failed in the backend")
            # C2 = M xor t, so C2 == M means the KDF output t was all zeros: GB/T 32918.4 step A5 says choose
            # a new k. Tongsuo does not (it would send the message in clear, 1 time in 256 for one byte).
            if native[97:] != plaintext:
                return native
        raise ValueError(
            "SM2 encryption kept drawing an all-zero KDF output; refusing to emit a broken ciphertext"
        )


class Decryptor:
    """A private key loaded into Tongsuo, for SM2 decryption."""

    __slots__ = ("_decrypt",)

    def __init__(self, d: bytes) -> None:
        key = _tongsuo_ec.derive_private_key(int.from_bytes(d, "big"), _tongsuo_ec.SM2())
        self._decrypt = _Operation(key, _lib.EVP_PKEY_decrypt_init, _lib.EVP_PKEY_decrypt, 0)

    def decrypt(self, native: bytes) -> bytes | None:
        """Plaintext of ``04‖C1‖C3‖C2``, or None when C1 is off the curve or C3 does not check out."""
        plain = self._decrypt(native_to_der(native))
        # GB/T 32918.4 step B4: an all-zero KDF output (C2 == M) is an error; Tongsuo does not check.
        if plain is None or plain == native[97:]:
            return None
        return plain


def encrypt(point: bytes, plaintext: bytes, *, _k: bytes | None = None) -> bytes:
    """SM2 public-key encryption; ``04‖C1‖C3‖C2``. ``_k`` (gmalglib) is for known-answer tests only."""
    if _k is None:
        return Encryptor(point).encrypt(plaintext)
    native = _engine(pk=point, k=_k).encrypt(plaintext)
    # With t all zeros gmalglib 0.5.9 returns C3 and C2 zeroed instead of choosing a new k (A5). A real C3 is
    # an SM3 digest, never 32 zero bytes; with a fixed k there is no other k to draw.
    if native[65:97] == _C3_ZERO:
        raise ValueError(
            "SM2 encryption kept drawing an all-zero KDF output; refusing to emit a broken ciphertext"
        )
    return native


def decrypt(d: bytes, ciphertext: bytes) -> bytes | None:
    """Plaintext of ``04‖C1‖C3‖C2``, or None when C1 is off the curve or C3 does not check out."""
    return Decryptor(d).decrypt(ciphertext)
