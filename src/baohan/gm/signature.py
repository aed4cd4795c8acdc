"""SM2 signature encodings: DER ``SEQUENCE {r, s}`` and raw ``r‖s`` (64 bytes)."""

from __future__ import annotations

from typing import Literal

from asn1crypto.algos import DSASignature

SignatureFormat = Literal["der", "raw"]
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def raw_to_der(raw: bytes) -> bytes:
    """DER ``SEQUENCE {r, s}`` of a 64-byte ``r‖s``."""
    return bytes(DSASignature.from_p1363(raw).dump())


def der_to_raw(der: bytes) -> bytes | None:
    """64-byte ``r‖s`` of a canonical DER signature, or None for anything else (non-minimal, trailing bytes)."""
    try:
        parsed = DSASignature.load(der, strict=True)
        r, s = parsed["r"].native, parsed["s"].native
    except (ValueError, TypeError, KeyError):
        return None
    if not (0 < r < _N and 0 < s < _N):
        return None
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return raw if raw_to_der(raw) == der else None


def to_raw(signature: bytes, fmt: SignatureFormat | Literal["auto"] = "auto") -> bytes | None:
    """Raw ``r‖s`` of a signature in ``fmt``; ``auto`` takes 64 bytes as raw and anything else as DER."""
    if fmt == "raw" or (fmt == "auto" and len(signature) == 64):
        return signature if len(signature) == 64 else None
    return der_to_raw(signature)
