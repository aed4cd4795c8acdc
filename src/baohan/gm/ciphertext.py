"""SM2 ciphertext layouts: raw C1C3C2 / C1C2C3 (with or without the ``04`` point prefix) and ASN.1 DER (GM/T 0009).

The backend speaks one form, ``04‖C1‖C3‖C2``; these functions translate to and from the others so
that a peer's layout is a matter of configuration, not code.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

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


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_integer(value: bytes) -> bytes:
    body = value.lstrip(b"\x00") or b"\x00"
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + _der_length(len(body)) + body


def _der_octets(value: bytes) -> bytes:
    return b"\x04" + _der_length(len(value)) + value


def native_to_der(native: bytes) -> bytes:
    """GM/T 0009-2012 §7.2 SM2Cipher ``SEQUENCE {x, y, C3, C2}`` (always C1, C3, C2) of ``04‖C1‖C3‖C2``.

    Hand-written because it is on every request's path: asn1crypto took 20-40 µs, this takes 2.
    """
    body = (
        _der_integer(native[1 : 1 + _COORD])
        + _der_integer(native[1 + _COORD : 1 + _C1_RAW])
        + _der_octets(native[1 + _C1_RAW : 1 + _C1_RAW + _C3])
        + _der_octets(native[1 + _C1_RAW + _C3 :])
    )
    return b"\x30" + _der_length(len(body)) + body


def _der_read(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the content of the element with ``tag`` at ``pos``; ValueError unless canonical DER."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise ValueError("unexpected tag")
    first, pos = data[pos + 1], pos + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(data) or data[pos] == 0:
            raise ValueError("bad length")
        length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
        if length < 0x80:
            raise ValueError("long form for a short length")
    if pos + length > len(data):
        raise ValueError("truncated")
    return pos, pos + length


def _der_coordinate(data: bytes, pos: int) -> tuple[int, int]:
    start, end = _der_read(data, pos, 0x02)
    body = data[start:end]
    # Canonical, non-negative and no more than a field element (with a sign byte).
    if not body or body[0] & 0x80 or (len(body) > 1 and body[0] == 0 and not body[1] & 0x80):
        raise ValueError("non-canonical integer")
    value = int.from_bytes(body, "big")
    if value >= _P:
        raise ValueError("coordinate out of range")
    return value, end


def der_to_native(data: bytes) -> bytes | None:
    """``04‖C1‖C3‖C2`` of a canonical-DER SM2Cipher, or None: only canonical DER, so no bit is malleable."""
    try:
        start, end = _der_read(data, 0, 0x30)
        if end != len(data):
            return None
        x, pos = _der_coordinate(data, start)
        y, pos = _der_coordinate(data, pos)
        c3_start, c3_end = _der_read(data, pos, 0x04)
        c2_start, c2_end = _der_read(data, c3_end, 0x04)
    except ValueError:
        return None
    if c2_end != end or c3_end - c3_start != _C3:
        return None
    return (
        b"\x04"
        + x.to_bytes(_COORD, "big")
        + y.to_bytes(_COORD, "big")
        + data[c3_start:c3_end]
        + data[c2_start:c2_end]
    )


def from_native(native: bytes, layout: Layout | str, prefix: bool = True) -> bytes:
    """Re-lay the backend's ``04‖C1‖C3‖C2`` as ``layout`` (``prefix`` applies to the raw layouts)."""
    layout = Layout(layout)
    if layout is Layout.ASN1:
        return native_to_der(native)
    c1, c3, c2 = native[1 : 1 + _C1_RAW], native[1 + _C1_RAW : 1 + _C1_RAW + _C3], native[1 + _C1_RAW + _C3 :]
    head = b"\x04" + c1 if prefix else c1
    return head + (c3 + c2 if layout is Layout.C1C3C2 else c2 + c3)


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
            native = der_to_native(data) if lay is Layout.ASN1 else _from_raw(data, lay, bool(pre))
            if native is not None and native not in seen:
                seen.add(native)
                yield native


def parsable_candidates(data: bytes, layout: Layout | str, prefix: bool | None) -> list[bytes]:
    """:func:`candidates` as a list; DecryptionError when ``data`` cannot be an SM2 ciphertext in ``layout``."""
    found = list(candidates(data, layout, prefix))
    if not found:
        want = "any layout" if layout == "auto" else f"layout {layout}"
        raise DecryptionError(f"not an SM2 ciphertext in {want} ({len(data)} bytes)")
    return found
