"""What the institution checks when a bidder hands back the application key K (spec 004 flow step 2).

The bidder opens ``digitalenvelope`` with their own certificate's private key (in the browser or with
``baohan bidder open``) and offers K. Only the bidder's key can open the SM2 envelope, so the server
checks K against what K sealed: it must decrypt ``applydata`` (SM4-ECB, PKCS#7 padding) to the
application's JSON, valid as spec 004's applydata. A wrong K gets past the padding about once in 256
tries and then fails the JSON; passing both by chance is out of reach.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from baohan.gm import SM4Mode, sm4_decrypt
from baohan.gm.errors import DecryptionError
from baohan.protocols.fields import MessageInvalid, validate_wire
from baohan.protocols.tender.models import ApplicationData
from baohan.protocols.tender.sealing import SEALED_FIELDS
from baohan.protocols.wirejson import parse_json

READABLE_FIELDS = ("biddername", "biddercode", "bzjamount")
_KEY_HEX = re.compile(r"[0-9a-fA-F]{32}")


class BidderError(ValueError):
    """A bidder's offer refused; ``field`` names what was wrong, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class OpenedApplication:
    """The application as K opens it: the readable fields in clear, the project fields still sealed."""

    key: bytes
    fields: Mapping[str, str]

    def readable(self) -> dict[str, str]:
        """biddername, biddercode and bzjamount: what the institution may know before bid opening."""
        return {name: self.fields[name] for name in READABLE_FIELDS}

    def sealed(self) -> dict[str, str]:
        """The project fields present, as their ciphertext (Base64 SM4 under the project key)."""
        return {name: self.fields[name] for name in SEALED_FIELDS if name in self.fields}

    @property
    def bzjamount(self) -> Decimal:
        """The bid bond amount (保证金金额), exactly."""
        return Decimal(self.fields["bzjamount"])


def parse_key_hex(key_hex: str) -> bytes:
    """K from its 32 hex characters; BidderError naming ``key`` otherwise."""
    text = key_hex.strip()
    if not _KEY_HEX.fullmatch(text):
        raise BidderError("key", "must be 32 hexadecimal characters (the 16-byte SM4 key)")
    return bytes.fromhex(text)


def accept_opened_key(applydata: str, key_hex: str) -> OpenedApplication:
    """The application ``applydata`` holds, if ``key_hex`` opens it; BidderError naming the field otherwise."""
    key = parse_key_hex(key_hex)
    try:
        sealed = base64.b64decode(applydata.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BidderError("applydata", "is not Base64") from None
    try:
        plain = sm4_decrypt(key, sealed, SM4Mode.ECB)
    except DecryptionError:
        raise BidderError("key", "does not open applydata (wrong key)") from None
    return OpenedApplication(key=key, fields=MappingProxyType(application_fields(plain)))


def application_fields(plain: bytes) -> dict[str, str]:
    """The application's fields as wire text from its UTF-8 JSON, validated as spec 004's applydata."""
    try:
        data = parse_json(plain, exact_numbers=True)
    except (UnicodeDecodeError, ValueError):
        raise BidderError("key", "opens applydata to something that is not the application's JSON") from None
    if not isinstance(data, dict):
        raise BidderError("key", "opens applydata to JSON that is not an object")
    try:
        application = validate_wire(ApplicationData, data)
    except MessageInvalid as exc:
        raise BidderError(f"application.{exc.field}", exc.rule) from None
    return {
        name: str(value) for name, value in application.model_dump(mode="json", exclude_none=True).items()
    }
