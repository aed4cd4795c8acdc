"""What the tender router hands a role and what the role answers: framework-free, so services and
operator commands use them without the web framework."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from baohan.gm import SM2PrivateKey, SM2PublicKey, sm3_hex
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.sign import SIGN, render, sign_string
from baohan.protocols.tender.wire import OK_MESSAGE

KEY_PART_MAX = 50


@dataclass(frozen=True, slots=True)
class TenderChannel:
    """What one side holds to talk to one counterparty: the platform-issued appkey and appsecret, our SM2
    key, the counterparty's SM2 public key (None until known) and its profile."""

    appkey: str
    appsecret: str
    own_key: SM2PrivateKey
    peer_key: SM2PublicKey | None = None
    profile: TenderProfile = field(default_factory=TenderProfile)

    def __repr__(self) -> str:  # the secret and the private key never reach a log line
        return f"TenderChannel(appkey={self.appkey!r}, profile={self.profile!r})"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the role answers: success or failure, its message and the answer's ``data``."""

    ok: bool = True
    message: str = OK_MESSAGE
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """A request whose sign, clock and fields passed, handed to the role.

    ``key`` names the request for replay: its applyno (invoicenotice: its baohanno; a file slice: applyno,
    filetype and index, joined by ``|``). ``fingerprint`` is the SM3 of its fields but sign and timestamp,
    so a retry with a new timestamp is the same request.
    """

    appkey: str
    interface: str
    key: str
    fingerprint: str
    sent_at: datetime
    fields: Mapping[str, Any]
    model: Any
    channel: TenderChannel


class Endpoint(Protocol):
    """The role behind the router (issuer or platform)."""

    def channel(self, appkey: str) -> TenderChannel | None:
        """The channel registered for ``appkey``, or None when it is unknown."""

    def paused(self) -> bool:
        """True while an operator has paused the service."""

    def replayed(self, appkey: str, interface: str, key: str, fingerprint: str) -> Answer | None:
        """The answer recorded for an already processed request, or None; TenderError when ``key`` was
        processed with other content. Asked for every signed request, before its clock and fields."""

    def handle(self, request: Inbound) -> Answer:
        """Process the request and record its answer, atomically (a concurrent duplicate answers the same)."""


def fingerprint(interface: str, fields: Mapping[str, Any]) -> str:
    """Identity of a request's content: its fields but ``sign`` and ``timestamp``, in sign-string form."""
    content = {k: v for k, v in fields.items() if k not in (SIGN, "timestamp")}
    return sm3_hex(f"{interface}&{sign_string(content)}".encode())


def replay_key(fields: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The replay key of a request from its ``names`` fields; None when one is missing (never processed)."""
    parts = [render(fields.get(name)) for name in names]
    # Beyond the spec's 50 characters a value was never accepted, so never processed either.
    if any(part is None or not part.strip() or len(part) > KEY_PART_MAX for part in parts):
        return None
    return "|".join(part for part in parts if part is not None)
