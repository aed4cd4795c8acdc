"""Binary ↔ text: the hex and Base64 forms keys, ciphertexts and signatures travel in."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from baohan.gm.errors import EncodingError

TextEncoding = Literal["hex", "base64"]
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_WS = re.compile(r"\s+")


def encode(data: bytes, encoding: TextEncoding) -> str:
    """``data`` as lowercase hex or standard Base64."""
    if encoding == "hex":
        return data.hex()
    return base64.b64encode(data).decode("ascii")


def from_hex(text: str, what: str = "value") -> bytes:
    """Bytes of a hex string (whitespace ignored); EncodingError naming ``what`` otherwise."""
    clean = _WS.sub("", text)
    if not _HEX.match(clean):
        raise EncodingError(f"{what} is not valid hex")
    return bytes.fromhex(clean)


def from_base64(text: str, what: str = "value") -> bytes:
    """Bytes of standard or URL-safe Base64 (whitespace ignored); EncodingError otherwise."""
    try:  # the common case, clean standard Base64, in one C call: request data runs to kilobytes
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    clean = _WS.sub("", text)
    if "-" in clean or "_" in clean:
        clean = clean.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(clean + "=" * (-len(clean) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise EncodingError(f"{what} is not valid Base64") from None


def looks_hex(text: str) -> bool:
    """True when ``text`` (whitespace ignored) is a non-empty, even-length run of hex digits."""
    clean = _WS.sub("", text)
    return bool(clean) and bool(_HEX.match(clean))


def decode(text: str, encoding: Literal["hex", "base64", "auto"], what: str = "value") -> bytes:
    """Bytes of ``text``; ``auto`` takes hex when every character is a hex digit, Base64 otherwise."""
    if encoding != "base64":
        try:  # only ever succeeds on hex digits, so it decides "auto" as looks_hex would, in one C call
            return bytes.fromhex(text)
        except ValueError:
            pass
        if encoding == "auto":
            # Strict Base64 has no whitespace, and text without whitespace that fromhex refused is not hex:
            # so this decides as looks_hex would, without scanning kilobytes with a regular expression.
            try:
                return base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                pass
    if encoding == "hex" or (encoding == "auto" and looks_hex(text)):
        return from_hex(text, what)
    return from_base64(text, what)


def unarmor(blob: bytes, error: type[Exception] = EncodingError) -> tuple[str, bytes]:
    """(block type, DER) of one PEM block; ``error`` (default EncodingError) when it is malformed."""
    from asn1crypto import pem

    try:
        kind, _, der = pem.unarmor(blob)
    except ValueError:
        raise error("malformed PEM: no complete BEGIN/END block") from None
    return str(kind), bytes(der)
