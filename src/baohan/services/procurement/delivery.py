"""Procurement's delivery handlers: notices and requests to counterparties, and the platform's file fetch.

The msgcode of each delivery is derived from the outbox message id, so every retry of one message carries
the same msgcode and the receiver's replay record turns repeats into no-ops. An answer a retry cannot
change (a validation failure, an unknown id, an HTTP 4xx) ends in the dead letters at once; a pause, a
server error, a time-out or a 5xx is retried with backoff.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping

import httpx

from baohan.adapters import personal
from baohan.adapters.outbox import OutboxMessage, PermanentFailure
from baohan.protocols.fields import MessageInvalid
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.client import ProcurementClient, TransportError
from baohan.protocols.procurement.codes import RETRYABLE
from baohan.protocols.procurement.envelope import Response
from baohan.protocols.procurement.tables import check_outgoing
from baohan.services.delivery import Handler
from baohan.services.procurement.platform import FETCH, PlatformService
from baohan.services.procurement.registry import Peer, Registry

# What the issuer sends to platforms, and the platform to institutions.
ISSUER_SENDS = ("ELY102", "ELY106", "ELY108")
PLATFORM_SENDS = ("ELY101", "ELY105", "ELY107", "ELY109")
_RETRYABLE_HTTP = frozenset({408, 425, 429})


class DeliveryRefused(Exception):
    """The counterparty answered with a code that may change on a retry (paused, server error)."""


def msgcode_for(message_id: str, step: str = "") -> str:
    """A stable 32-hex msgcode for one outbox message (and one step of it)."""
    base = uuid.UUID(message_id)
    return (uuid.uuid5(base, step) if step else base).hex


class Sender:
    """Sends one outbox message as the procurement request of its kind, to its destination."""

    def __init__(self, registry: Registry, http: httpx.Client) -> None:
        self._registry = registry
        self._http = http

    def client(self, peer: Peer) -> ProcurementClient:
        """A client for ``peer`` on the shared, kept-alive connection pool."""
        if not peer.endpoint_url:
            raise PermanentFailure(f"counterparty {peer.name} has no endpoint URL")
        return ProcurementClient(
            peer.endpoint_url, peer.channel, per_transcode_paths=peer.per_transcode_paths, http=self._http
        )

    def send(
        self, client: ProcurementClient, transcode: str, payload: dict[str, object], msgcode: str
    ) -> Response:
        """Post one request and insist on 000: PermanentFailure or DeliveryRefused otherwise."""
        try:
            answer = client.send(transcode, payload, msgcode=msgcode)
        except TransportError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in _RETRYABLE_HTTP:
                raise PermanentFailure(str(exc)) from None
            raise
        if not answer.ok:
            refusal = f"{transcode} answered {answer.code.value}: {answer.message}"
            if answer.code in RETRYABLE:
                raise DeliveryRefused(refusal)
            raise PermanentFailure(refusal)
        return answer

    def __call__(self, message: OutboxMessage) -> None:
        peer = self._registry.peer(message.destination)
        payload = personal.unseal_message(self._registry.box, message.payload, message.dedupe_key)
        self.send(self.client(peer), message.kind, payload, msgcode_for(message.id))


class GuaranteeFetch:
    """The platform's job after an 03: ELY103 for the file, ELY104 to have the issuer verify it, keep both."""

    def __init__(self, sender: Sender, registry: Registry, platform: PlatformService) -> None:
        self._sender = sender
        self._registry = registry
        self._platform = platform

    def __call__(self, message: OutboxMessage) -> None:
        app = self._platform.application(message.payload["application"])
        peer = self._registry.peer(app.counterparty_id)
        client = self._sender.client(peer)
        fetch = _outgoing("ELY103", {"applicationId": app.application_id}, peer)
        fetched = self._sender.send(client, "ELY103", fetch, msgcode_for(message.id, "ELY103"))
        file = m.parse_response_data("ELY103", fetched.data)
        assert isinstance(file, m.ELY103ResponseData)
        content = bytes(file.guaranteeFileContent)
        verify = {"guaranteeId": app.guarantee_id, "guaranteeData": base64.b64encode(content).decode("ascii")}
        checked = self._sender.send(
            client, "ELY104", _outgoing("ELY104", verify, peer), msgcode_for(message.id, "ELY104")
        )
        verification = m.parse_response_data("ELY104", checked.data)
        assert verification is not None
        self._platform.store_verified_file(app.id, file.guaranteeFileName, content, m.to_wire(verification))


def _outgoing(transcode: str, payload: Mapping[str, object], peer: Peer) -> dict[str, object]:
    """``payload`` once it fits its own table (as ``peer``'s profile widens it); a dead letter if it cannot."""
    try:
        check_outgoing(transcode, payload, peer.channel.profile.limits)
    except MessageInvalid as exc:
        raise PermanentFailure(f"{transcode} cannot be sent: {exc}") from None
    return dict(payload)


def issuer_handlers(registry: Registry, http: httpx.Client) -> dict[str, Handler]:
    """The issuer's outbox kinds and their handlers."""
    sender = Sender(registry, http)
    return dict.fromkeys(ISSUER_SENDS, sender)


def platform_handlers(
    registry: Registry, http: httpx.Client, platform: PlatformService
) -> dict[str, Handler]:
    """The platform's outbox kinds and their handlers, the file fetch included."""
    sender = Sender(registry, http)
    handlers: dict[str, Handler] = dict.fromkeys(PLATFORM_SENDS, sender)
    handlers[FETCH] = GuaranteeFetch(sender, registry, platform)
    return handlers
