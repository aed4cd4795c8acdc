"""What the router hands a role and what the role answers: framework-free, so services and operator
commands use them without loading the web framework."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from baohan.gm import sm3_hex
from baohan.protocols.procurement.codes import MESSAGES, Code
from baohan.protocols.procurement.envelope import Channel, canonical_json

ENVELOPE_REQUESTS = frozenset({"ELY104"})
ENVELOPE_RESPONSES = frozenset({"ELY103"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What the role answers: a code, its message, and the response data (encrypted on the way out)."""

    code: Code = Code.OK
    message: str = MESSAGES[Code.OK]
    data: dict[str, Any] | None = None
    # Fields of ``data`` that are Base64 of a stored file, with its id: the replay record keeps the id.
    stored: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Inbound:
    """An authenticated, decrypted and validated request handed to the role."""

    appid: str
    msgcode: str
    transcode: str
    sent_at: datetime
    fingerprint: str
    payload: dict[str, Any]
    message: Any
    canonical: str = ""  # the payload as canonical JSON, when the router computed it (for the fingerprint)


class Endpoint(Protocol):
    """The role behind the router (issuer or platform)."""

    def channel(self, appid: str) -> Channel | None:
        """The channel registered for ``appid``, or None when it is unknown."""

    def paused(self) -> bool:
        """True while an operator has paused the service (answered with 301)."""

    def replayed(self, appid: str, msgcode: str, fingerprint: str) -> Answer | None:
        """The stored answer to an already processed ``msgcode``; ProtocolError(103) if it differed.

        The router asks only for requests outside the clock window; fresh ones go straight to handle.
        """

    def handle(self, request: Inbound) -> Answer:
        """Answer a processed msgcode as before, or process the request and record its answer: atomically."""


Validator = Callable[[str, dict[str, Any]], Any]


def fingerprint(transcode: str, payload: dict[str, Any]) -> str:
    """Identity of a request's decrypted content: a retry re-encrypts (SM2 is randomised) but says the same."""
    return fingerprint_of(transcode, canonical_json(payload))


def fingerprint_of(transcode: str, canonical: str) -> str:
    """As :func:`fingerprint`, from the payload already in canonical JSON."""
    return sm3_hex(f"{transcode}&{canonical}".encode())
