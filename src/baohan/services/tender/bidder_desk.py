"""The bidder's desk: what the bidder page asks of the issuer, keyed by the token in its ``redirecturl``.

The issuer role implements it over its store; the web router (:mod:`baohan.web.bidder`) only calls it.
The bidder's private key never reaches it: the desk gets K (to check against ``applydata``) and the
signed agreement (to check against the bidder's certificate), both made on the bidder's side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class DeskState(StrEnum):
    """Where the bidder stands: the envelope still sealed, opened (K accepted), or the agreement signed."""

    SEALED = "sealed"
    OPENED = "opened"
    SIGNED = "signed"


@dataclass(frozen=True)
class BidderView:
    """What the page shows: the sealed application as baohanapply carried it, and how far the bidder is."""

    applyno: str
    applydata: str
    digitalenvelope: str
    state: DeskState
    readable: Mapping[str, str] = field(default_factory=dict)  # biddername etc., once K is accepted


class UnknownToken(LookupError):
    """No application behind this token (never issued, or withdrawn)."""


class BidderDesk(Protocol):
    """The issuer's side of the bidder page. Refusals raise
    :class:`baohan.protocols.tender.bidder.BidderError` naming the field; an unknown token :class:`UnknownToken`."""

    def view(self, token: str) -> BidderView:
        """The application behind ``token`` and its state."""
        ...

    def accept_key(self, token: str, key_hex: str) -> BidderView:
        """Accept K if it opens the application (``accept_opened_key``); the view, now opened."""
        ...

    def agreement(self, token: str) -> bytes:
        """The agreement's exact UTF-8 bytes to sign (``render_agreement``); refused while still sealed."""
        ...

    def accept_signature(self, token: str, certificate_pem: str, signature: str) -> BidderView:
        """Accept the signed agreement (``verify_agreement_signature``); the view, now signed."""
        ...
