"""Tender's outbox sender: every message of kind ``tender.<interface>`` posted to its counterparty.

A message is written by :func:`message_payload` (inside the caller's transaction, with the change that
causes it): the request's fields as text, the personal ones sealed by the key store and bound to the
message's dedupe key, amounts marked so the profile decides how they travel. :class:`TenderSender` opens
it and calls the counterparty with :class:`~baohan.protocols.tender.client.TenderClient` at
``peer.endpoint_url + "/" + interface``. Every retry of one message is the same request (same applyno,
same fields), so the receiver's replay record turns repeats into no-ops.

A code 0 answer ends in the dead letters (a retry gets the same refusal), unless its message says the
peer is only unavailable (paused, internal error) or the sender is told that interface's refusals are
worth retrying; transport errors, 5xx and 408/425/429 are retried with the outbox's backoff. A use case
that must act on the answer (a refused giveupnotice, the public key downloadpublickey brings) registers
an ``on_answer`` hook for its interface: it is called with the :class:`Delivery`, refused or not.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from baohan.adapters.keystore import KeyStoreError, SecretBox
from baohan.adapters.outbox import OutboxMessage, PermanentFailure
from baohan.protocols.fields import MessageInvalid, validate_wire
from baohan.protocols.tender.client import TenderClient, TenderRefused, TenderTransportError
from baohan.protocols.tender.router import INTERNAL_ERROR, PAUSED
from baohan.protocols.tender.tables import INTERFACES
from baohan.protocols.tender.wire import format_timestamp, number_text
from baohan.services.delivery import Handler
from baohan.services.tender.registry import Peer, Registry

KIND_PREFIX = "tender."
# Personal data (PIPL 个人信息) a tender request may carry: sealed while the message waits in the outbox.
PERSONAL_FIELDS = frozenset(
    {
        "payername",
        "payeraccount",
        "applyusername",
        "applyuserphone",
        "phone",
        "mobile",
        "email",
        "account",
        "contactname",
        "contactaddress",
    }
)
# Secrets a request may carry: baohanrestore's project key waits in the outbox until the bid opens.
SECRET_FIELDS = frozenset({"key"})
UNAVAILABLE = frozenset({PAUSED, INTERNAL_ERROR})  # the router's answers that a later try may change
_RETRYABLE_HTTP = frozenset({408, 425, 429})


def kind(interface: str) -> str:
    """The outbox kind of a request to ``interface``; ValueError for a name spec 004 does not have."""
    if interface not in INTERFACES:
        raise ValueError(f"not a tender interface: {interface!r}")
    return KIND_PREFIX + interface


def interface_of(message_kind: str) -> str:
    """The interface an outbox kind ``tender.<interface>`` calls."""
    name = message_kind.removeprefix(KIND_PREFIX)
    if not message_kind.startswith(KIND_PREFIX) or name not in INTERFACES:
        raise PermanentFailure(f"outbox kind {message_kind!r} is not a tender interface")
    return name


def _field_context(dedupe_key: str, name: str) -> str:
    return f"outbox:{dedupe_key}:{name}"


def message_payload(box: SecretBox, fields: Mapping[str, Any], dedupe_key: str) -> dict[str, Any]:
    """An outbox payload for ``fields``: texts as sent, personal fields sealed (bound to ``dedupe_key``),
    amounts kept exact and named so the profile decides at sending whether they go as numbers."""
    texts: dict[str, str] = {}
    sealed: list[str] = []
    amounts: list[str] = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Decimal):
            amounts.append(name)
            value = number_text(value)
        elif isinstance(value, datetime):
            value = format_timestamp(value)
        elif not isinstance(value, str):
            raise TypeError(
                f"{name}: a tender field is text, an amount or a time, not {type(value).__name__}"
            )
        if name in PERSONAL_FIELDS or name in SECRET_FIELDS:
            value = box.seal(value.encode("utf-8"), context=_field_context(dedupe_key, name))
            sealed.append(name)
        texts[name] = value
    return {"fields": texts, "sealed": sorted(sealed), "amounts": sorted(amounts)}


def message_fields(box: SecretBox, payload: Mapping[str, Any], dedupe_key: str | None) -> dict[str, Any]:
    """The request's fields from a :func:`message_payload`: personal fields opened, amounts as Decimal."""
    if dedupe_key is None:
        raise PermanentFailure("a tender message is written with a dedupe key")
    fields: dict[str, Any] = dict(payload["fields"])
    for name in payload.get("sealed", ()):
        try:
            fields[name] = box.open(fields[name], context=_field_context(dedupe_key, name)).decode("utf-8")
        except KeyStoreError as exc:  # another message's field, or another key store: a retry cannot help
            raise PermanentFailure(f"{name}: the sealed field does not open: {exc}") from None
    for name in payload.get("amounts", ()):
        fields[name] = Decimal(fields[name])
    return fields


@dataclass(frozen=True)
class Delivery:
    """One request and the counterparty's answer: ``ok`` with its ``data``, or refused with ``reason``."""

    message: OutboxMessage
    peer: Peer
    interface: str
    fields: Mapping[str, Any]
    ok: bool
    reason: str
    data: Mapping[str, Any]


OnAnswer = Callable[[Delivery], None]


def _now() -> datetime:
    return datetime.now(UTC)


class TenderSender:
    """Sends each ``tender.<interface>`` outbox message to its destination counterparty."""

    def __init__(
        self,
        registry: Registry,
        http: httpx.Client,
        *,
        on_answer: Mapping[str, OnAnswer] | None = None,
        retry_refusals: Collection[str] = (),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._registry = registry
        self._client = TenderClient(http, clock=clock)
        self._hooks: dict[str, list[OnAnswer]] = {}
        self._retry_refusals = frozenset(retry_refusals)
        for interface, hook in (on_answer or {}).items():
            self.on_answer(interface, hook)

    def on_answer(self, interface: str, hook: OnAnswer) -> None:
        """Call ``hook`` with every answer to ``interface`` (after a success, before a refusal is final)."""
        kind(interface)  # an unknown name is a programming error, shown at start-up
        self._hooks.setdefault(interface, []).append(hook)

    def kinds(self, interfaces: Iterable[str]) -> dict[str, Handler]:
        """This sender as the outbox handler of ``tender.<interface>`` for each of ``interfaces``."""
        return {kind(interface): self for interface in interfaces}

    def retryable(self, interface: str, reason: str) -> bool:
        """True when a code 0 answer to ``interface`` may change on a later try."""
        return reason in UNAVAILABLE or interface in self._retry_refusals

    def send(self, peer: Peer, interface: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Post one request to ``peer`` and return the answer's data; PermanentFailure when retrying cannot
        help, TenderTransportError or TenderRefused to be retried."""
        if not peer.endpoint_url:
            raise PermanentFailure(f"counterparty {peer.name} has no endpoint URL")
        try:  # a request its own table refuses would be refused by the peer too: say so here
            validate_wire(
                INTERFACES[interface].request, self._client.message(interface, fields, peer.channel)
            )
        except MessageInvalid as exc:
            raise PermanentFailure(f"{interface} cannot be sent: {exc}") from None
        try:
            return self._client.call(peer.endpoint_url, interface, fields, peer.channel)
        except TenderTransportError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in _RETRYABLE_HTTP:
                raise PermanentFailure(str(exc)) from None
            raise

    def deliver(self, peer: Peer, interface: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """As :meth:`send` within a job of several calls: a refusal no retry can change is a PermanentFailure."""
        try:
            return self.send(peer, interface, fields)
        except TenderRefused as exc:
            if self.retryable(interface, exc.message):
                raise
            raise PermanentFailure(str(exc)) from None

    def __call__(self, message: OutboxMessage) -> None:
        interface = interface_of(message.kind)
        try:
            peer = self._registry.peer(message.destination)
        except KeyError as exc:
            raise PermanentFailure(f"no counterparty {message.destination}: {exc}") from None
        fields = message_fields(self._registry.box, message.payload, message.dedupe_key)
        try:
            data = self.send(peer, interface, fields)
        except TenderRefused as exc:
            if self.retryable(interface, exc.message):
                raise
            self._answered(Delivery(message, peer, interface, fields, False, exc.message, {}))
            raise PermanentFailure(str(exc)) from None
        self._answered(Delivery(message, peer, interface, fields, True, "", data))

    def _answered(self, delivery: Delivery) -> None:
        for hook in self._hooks.get(delivery.interface, ()):
            hook(delivery)
