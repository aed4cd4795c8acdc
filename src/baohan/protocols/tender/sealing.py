"""The tender protocol's sealed values, byte for byte as PRODUCT.md's "Tender wire defaults" pins them.

``applydata`` is Base64(SM4-ECB/PKCS#7(K, UTF-8 JSON)) with K fresh per application, and
``digitalenvelope`` K SM2-sealed for the bidder's certificate key. Inside the application the bid
section's fields are SM4-ECB-sealed under the project key P. The file key F and iv V travel SM2-sealed
for the platform in ``baohanfilecompletenotice``. Layout, ``04`` prefix and hex/Base64 text of the SM2
values are the profile's; every failure is a :class:`SealingError` naming the wire field.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Callable, Mapping
from typing import Any, Literal

from baohan.gm import GMError, Layout, SM2PrivateKey, SM2PublicKey, open_key, sm4_decrypt, sm4_encrypt
from baohan.gm.codec import TextEncoding, decode, encode, from_base64

KeyText = Literal["hex", "ascii"]
SEALED_FIELDS = ("biaoduanno", "biaoduanname", "zbr", "zbrorgnum")
OPTIONAL_SEALED = frozenset({"zbrorgnum"})
KEY_SIZE = 16
_ASCII_KEY_ALPHABET = string.ascii_letters + string.digits


class SealingError(ValueError):
    """A sealed value that cannot be made or opened; the message starts with the wire field's name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _seal_sm2(
    value: bytes, recipient: SM2PublicKey, layout: Layout | str, prefix: bool, encoding: TextEncoding
) -> str:
    return encode(recipient.encrypt(value, layout=layout, prefix=prefix), encoding)


def _open_sm2(
    field: str,
    text: str,
    own: SM2PrivateKey,
    layout: Layout | str,
    prefix: bool | None,
    encoding: TextEncoding | Literal["auto"],
) -> bytes:
    if not isinstance(text, str) or not text:
        raise SealingError(field, "missing")
    try:
        return open_key(decode(text, encoding, field), own, layout=layout, prefix=prefix)
    except GMError as exc:
        raise SealingError(field, f"does not open with our SM2 key ({exc})") from None


def _sm4_seal(key: bytes, plain: bytes) -> str:
    return encode(sm4_encrypt(key, plain, "ecb"), "base64")


def _sm4_open(field: str, text: str, key: bytes) -> bytes:
    if not isinstance(text, str) or not text:
        raise SealingError(field, "missing")
    try:
        return sm4_decrypt(key, from_base64(text, field), "ecb")
    except GMError as exc:
        raise SealingError(field, f"does not decrypt under its key ({exc})") from None


def seal_application(
    application: Mapping[str, Any],
    bidder: SM2PublicKey,
    *,
    layout: Layout | str = Layout.C1C3C2,
    prefix: bool = True,
    encoding: TextEncoding = "base64",
) -> tuple[str, str]:
    """(applydata, digitalenvelope) of ``application`` for the bidder whose certificate holds ``bidder``."""
    key = os.urandom(KEY_SIZE)
    plain = json.dumps(application, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _sm4_seal(key, plain), _seal_sm2(key, bidder, layout, prefix, encoding)


def open_envelope(
    digitalenvelope: str,
    bidder: SM2PrivateKey,
    *,
    layout: Layout | str = "auto",
    prefix: bool | None = None,
    encoding: TextEncoding | Literal["auto"] = "auto",
) -> bytes:
    """K, the applydata key sealed in ``digitalenvelope`` (16 raw bytes or their hex) for ``bidder``."""
    return _open_sm2("digitalenvelope", digitalenvelope, bidder, layout, prefix, encoding)


def open_application(applydata: str, key: bytes) -> dict[str, Any]:
    """The application JSON object sealed in ``applydata`` under K."""
    plain = _sm4_open("applydata", applydata, key)
    try:
        value = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SealingError("applydata", "decrypts, but not to UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise SealingError("applydata", f"decrypts to JSON {type(value).__name__}, not an object")
    return value


def seal_project_field(value: str, project_key: bytes) -> str:
    """Base64(SM4-ECB/PKCS#7(P, UTF-8 ``value``)): one sealed bid-section field."""
    return _sm4_seal(project_key, value.encode("utf-8"))


def open_project_field(text: str, project_key: bytes, field: str = "value") -> str:
    """The plain text of one sealed bid-section ``field``."""
    plain = _sm4_open(field, text, project_key)
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise SealingError(field, "decrypts, but not to UTF-8 text (wrong project key?)") from None


def seal_project_fields(application: Mapping[str, Any], project_key: bytes) -> dict[str, Any]:
    """A copy of ``application`` with biaoduanno, biaoduanname, zbr and (when present) zbrorgnum sealed."""
    return _map_sealed(application, lambda name, value: seal_project_field(value, project_key))


def open_project_fields(application: Mapping[str, Any], project_key: bytes) -> dict[str, Any]:
    """A copy of ``application`` with its sealed bid-section fields opened under P."""
    return _map_sealed(application, lambda name, value: open_project_field(value, project_key, name))


def _map_sealed(application: Mapping[str, Any], change: Callable[[str, str], str]) -> dict[str, Any]:
    out = dict(application)
    for name in SEALED_FIELDS:
        value = out.get(name)
        if value is None or value == "":
            if name in OPTIONAL_SEALED:
                continue
            raise SealingError(name, "missing")
        if not isinstance(value, str):
            raise SealingError(name, f"must be a string, got {type(value).__name__}")
        out[name] = change(name, value)
    return out


def new_project_key(key_text: KeyText = "hex") -> bytes:
    """A fresh 16-byte project key P; for ``ascii`` 16 random letters and digits (about 95 bits)."""
    if key_text == "ascii":
        return "".join(secrets.choice(_ASCII_KEY_ALPHABET) for _ in range(KEY_SIZE)).encode("ascii")
    return os.urandom(KEY_SIZE)


def encode_key(project_key: bytes, key_text: KeyText = "hex", field: str = "key") -> str:
    """P as the wire has it: 32 lowercase hex characters, or the 16 ASCII characters themselves."""
    if len(project_key) != KEY_SIZE:
        raise SealingError(field, f"a project key is {KEY_SIZE} bytes, got {len(project_key)}")
    if key_text == "ascii":
        if not all(0x21 <= b <= 0x7E for b in project_key):
            raise SealingError(
                field, "this key has bytes that are not printable ASCII; ascii keys need 16 such"
            )
        return project_key.decode("ascii")
    return project_key.hex()


def decode_key(text: str, key_text: KeyText = "hex", field: str = "key") -> bytes:
    """P from its wire text; SealingError naming ``field`` unless it is 32 hex (16 ASCII) characters."""
    if not isinstance(text, str):
        raise SealingError(field, f"must be a string, got {type(text).__name__}")
    if key_text == "ascii":
        if len(text) != KEY_SIZE or not all("!" <= c <= "~" for c in text):
            raise SealingError(
                field, f"must be {KEY_SIZE} printable ASCII characters, got {len(text)} characters"
            )
        return text.encode("ascii")
    if len(text) != 2 * KEY_SIZE or any(c not in string.hexdigits for c in text):
        raise SealingError(field, f"must be {2 * KEY_SIZE} hex characters, got {len(text)} characters")
    return bytes.fromhex(text)


def seal_file_secret(
    value: bytes,
    platform: SM2PublicKey,
    *,
    layout: Layout | str = Layout.C1C3C2,
    prefix: bool = True,
    encoding: TextEncoding = "base64",
) -> str:
    """A completion notice's ``key`` or ``iv``: F or V SM2-sealed for the platform."""
    if len(value) != KEY_SIZE:
        raise SealingError("key", f"a file key or iv is {KEY_SIZE} bytes, got {len(value)}")
    return _seal_sm2(value, platform, layout, prefix, encoding)


def open_file_secret(
    text: str,
    own: SM2PrivateKey,
    field: Literal["key", "iv"],
    *,
    layout: Layout | str = "auto",
    prefix: bool | None = None,
    encoding: TextEncoding | Literal["auto"] = "auto",
) -> bytes:
    """F or V from a completion notice's ``key`` or ``iv`` (sealed raw or as 32 hex) with the platform key."""
    return _open_sm2(field, text, own, layout, prefix, encoding)
