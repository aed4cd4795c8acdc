"""The bidder's link to an application: the token in baohanapply's ``redirecturl``.

The token is the application's id sealed by the key store (AES-GCM under the database's KEK, bound to
this use), written URL-safe: it cannot be guessed or forged, names one application only, and needs no
column of its own. A token that does not open is an unknown token, whatever was wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import uuid

from baohan.adapters.keystore import PREFIX, KeyStoreError, SecretBox
from baohan.services.tender.bidder_desk import UnknownToken

CONTEXT = "tender:bidder-link"
TOKEN_MAX = 200  # the bidder router's limit


def link_token(box: SecretBox, application_pk: str) -> str:
    """The unguessable token of ``application_pk`` for the bidder page (about 160 URL-safe characters)."""
    sealed = box.seal(uuid.UUID(application_pk).bytes, context=CONTEXT)
    raw = base64.b64decode(sealed.removeprefix(PREFIX))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def application_of(box: SecretBox, token: str) -> str:
    """The application id ``token`` names; UnknownToken if it is not one of ours."""
    if not token or len(token) > TOKEN_MAX:
        raise UnknownToken("token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        opened = box.open(PREFIX + base64.b64encode(raw).decode("ascii"), context=CONTEXT)
        return str(uuid.UUID(bytes=opened))
    except (binascii.Error, ValueError, KeyStoreError):
        raise UnknownToken("token") from None
