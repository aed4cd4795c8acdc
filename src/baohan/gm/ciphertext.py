"""SM2 ciphertext layouts: raw C1C3C2 / C1C2C3 (with or without the ``04`` point prefix) and ASN.1 DER (GM/T 0009).

The backend speaks one form, ``04‖C1‖C3‖C2``; these functions translate to and from the others so
that a peer's layout is a matter of configuration, not code.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from asn1crypto import core

from baohan.gm.errors import DecryptionError

_COORD = 32
_C3 = 32
_C1_RAW = 2 * _COORD
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF


class Layout(StrEnum):
    """How C1 (the ephemeral point), C3 (the SM3 check digest) and C2 (the masked message) are laid out."""

    C1C3C2 = "c1c3c2"
    C1C2C3 = "c1c2c3"
    ASN1 = "asn1"


class _SM2Cipher(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    # GM/T 0009-2012 §7.2 SM2Cipher: the order is fixed as C1 (x, y), C3, C2.
    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("cipher_text", core.OctetString),
    ]


def from_native(native: bytes, layout: Layout | str, prefix: bool = True) -> bytes:
    """Re-lay the backend's ``04‖C1‖C3‖C2`` as ``layout`` (``prefix`` applies to the raw layouts)."""
    layout = Layout(layout)
    c1, c3, c2 = native[1 : 1 + _C1_RAW], native[1 + _C1_RAW : 1 + _C1_RAW + _C3], native[1 + _C1_RAW + _C3 :]
    if layout is Layout.ASN1:
        return bytes(
            _SM2Cipher(
                {
                    "x": int.from_bytes(c1[:_COORD], "big"),
                    "y": int.from_bytes(c1[_COORD:], "big"),
                    "hash": c3,
                    "cipher_text": c2,
                }
            ).dump()
        )
    head = b"\x04" + c1 if prefix else c1
    return head + (c3 + c2 if layout is Layout.C1C3C2 else c2 + c3)


def _from_asn1(data: bytes) -> bytes | None:
    try:
        parsed = _SM2Cipher.load(data, strict=True)
        x, y = int(parsed["x"].native), int(parsed["y"].native)
        c3, c2 = bytes(parsed["hash"].native), bytes(parsed["cipher_text"].native)
        # Only canonical DER: a re-encoding must give back the very bytes, so no bit is malleable.
        if bytes(_SM2Cipher({"x": x, "y": y, "hash": c3, "cipher_text": c2}).dump()) != data:
            return None
    except (ValueError, TypeError, KeyError):
        return None
    if not (0 <= x < _P and 0 <= y < _P) or len(c3) != _C3:
        return None
    return b"\x04" + x.to_bytes(_COORD, "big") + y.to_bytes(_COORD, "big") + c3 + c2


def _from_raw(data: bytes, layout: Layout, prefix: bool) -> bytes | None:
    if prefix:
        if not data.startswith(b"\x04"):
            return None
        data = data[1:]
    if len(data) < _C1_RAW + _C3:
        return None
    c1, rest = data[:_C1_RAW], data[_C1_RAW:]
    c3, c2 = (rest[:_C3], rest[_C3:]) if layout is Layout.C1C3C2 else (rest[-_C3:], rest[:-_C3])
    return b"\x04" + c1 + c3 + c2


def candidates(data: bytes, layout: Layout | str = "auto", prefix: bool | None = None) -> Iterator[bytes]:
    """Every native form ``data`` could be under ``layout`` (``auto``: all), most likely first.

    The caller keeps the first whose C3 digest checks out; a form that cannot parse is not offered.
    """
    layouts = list(Layout) if layout == "auto" else [Layout(layout)]
    if data[:1] == b"\x30" and Layout.ASN1 in layouts:
        layouts.remove(Layout.ASN1)
        layouts.insert(0, Layout.ASN1)
    seen: set[bytes] = set()
    for lay in layouts:
        options = [None] if lay is Layout.ASN1 else ([prefix] if prefix is not None else [True, False])
        for pre in options:
            native = _from_asn1(data) if lay is Layout.ASN1 else _from_raw(data, lay, bool(pre))
            if native is not None and native not in seen:
                seen.add(native)
                yield native


def ensure_parsable(data: bytes, layout: Layout | str, prefix: bool | None) -> None:
    """Raise DecryptionError early when ``data`` cannot be an SM2 ciphertext in ``layout`` at all."""
    if next(candidates(data, layout, prefix), None) is None:
        want = "any layout" if layout == "auto" else f"layout {layout}"
        raise DecryptionError(f"not an SM2 ciphertext in {want} ({len(data)} bytes)")
