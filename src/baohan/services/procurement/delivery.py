"""Delivers outbox messages over HTTP: notices and requests to counterparties, and the platform's file fetch.

The msgcode of each delivery is derived from the outbox message id, so every retry of one message carries
the same msgcode and the receiver's replay record turns repeats into no-ops.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx

from baohan.adapters.outbox import OutboxMessage
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Response
from baohan.services.procurement.registry import Peer, Registry


class DeliveryRefused(Exception):
    """The counterparty answered, but not with 000; the outbox retries until the deadline."""


def msgcode_for(message_id: str, step: str = "") -> str:
    """A stable 32-hex msgcode for one outbox message (and one step of it)."""
    base = uuid.UUID(message_id)
    return (uuid.uuid5(base, step) if step else base).hex


class Courier:
    """The outbox's ``deliver``: one call per attempt, raising on any failure so the attempt is retried."""

    def __init__(
        self,
        registry: Registry,
        *,
        platform: Any = None,
        timeout: float = 15.0,
        http: httpx.Client | None = None,
    ) -> None:
        self._registry = registry
        self._platform = platform  # PlatformService, for the file-fetch job; None on an issuer
        self._http = http or httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the shared HTTP connection pool."""
        self._http.close()

    def _client(self, peer: Peer) -> ProcurementClient:
        if not peer.endpoint_url:
            raise DeliveryRefused(f"counterparty {peer.name} has no endpoint URL")
        return ProcurementClient(
            peer.endpoint_url, peer.channel, per_transcode_paths=peer.per_transcode_paths, http=self._http
        )

    def __call__(self, message: OutboxMessage) -> None:
        from baohan.services.procurement.platform import FETCH

        if message.kind == FETCH:
            self._fetch(message)
            return
        peer = self._registry.peer(message.destination)
        self._expect_ok(
            self._client(peer).send(message.kind, message.payload, msgcode=msgcode_for(message.id)),
            message.kind,
        )

    @staticmethod
    def _expect_ok(answer: Response, kind: str) -> Response:
        if not answer.ok:
            raise DeliveryRefused(f"{kind} answered {answer.code.value}: {answer.message}")
        return answer

    def _fetch(self, message: OutboxMessage) -> None:
        """ELY103 for the file, ELY104 to have the issuer verify it, then keep both (platform side)."""
        if self._platform is None:
            raise DeliveryRefused("file fetch jobs run on a platform")
        app = self._platform.application(message.payload["application"])
        client = self._client(self._registry.peer(app.counterparty_id))
        fetched = self._expect_ok(
            client.send(
                "ELY103", {"applicationId": app.application_id}, msgcode=msgcode_for(message.id, "ELY103")
            ),
            "ELY103",
        )
        file = m.parse_response_data("ELY103", fetched.data)
        assert isinstance(file, m.ELY103ResponseData)
        content = bytes(file.guaranteeFileContent)
        checked = self._expect_ok(
            client.send(
                "ELY104",
                {"guaranteeId": app.guarantee_id, "guaranteeData": base64.b64encode(content).decode("ascii")},
                msgcode=msgcode_for(message.id, "ELY104"),
            ),
            "ELY104",
        )
        verification = m.parse_response_data("ELY104", checked.data)
        assert verification is not None
        self._platform.store_verified_file(app.id, file.guaranteeFileName, content, m.to_wire(verification))
