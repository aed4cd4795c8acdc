"""The one place that imports the SM2 backend (gmalglib, C); see docs/decisions/0001-sm2-backend.md.

Everything here speaks the backend's native forms: private keys as 32 bytes, public keys as
``04‖X‖Y`` (65 bytes), signatures as raw ``r‖s`` and ciphertexts as ``04‖C1‖C3‖C2``.
"""

from __future__ import annotations

from collections.abc import Callable

from gmalglib.sm2 import SM2

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


def encrypt(point: bytes, plaintext: bytes, *, _k: bytes | None = None) -> bytes:
    """SM2 public-key encryption; ``04‖C1‖C3‖C2``. ``_k`` is for known-answer tests only."""
    for _ in range(_ENCRYPT_ATTEMPTS):
        native = _engine(pk=point, k=_k).encrypt(plaintext)
        # When the KDF output t is all zeros (1 time in 256 for a 1-byte message), GB/T 32918.4 step A5
        # says: choose a new k. gmalglib 0.5.9 instead returns C3 and C2 zeroed, a ciphertext nobody can
        # decrypt. A real C3 is an SM3 digest, never 32 zero bytes, so we catch that and draw again.
        if native[65:97] != _C3_ZERO:
            return native
        if _k is not None:
            break
    raise ValueError(
        "SM2 encryption kept drawing an all-zero KDF output; refusing to emit a broken ciphertext"
    )


def decrypt(d: bytes, ciphertext: bytes) -> bytes | None:
    """Plaintext of ``04‖C1‖C3‖C2``, or None when C1 is off the curve or C3 does not check out."""
    try:
        return _engine(sk=d).decrypt(ciphertext)
    except ValueError:
        return None
