"""A recording receiver for the sandbox: accepts the notices a counterparty pushes and lists them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.envelope import Channel
from baohan.protocols.procurement.router import Answer, Inbound, ProcurementWire
from baohan.web.front import ProtocolFront
from baohan.web.procurement import validate_request


class NoticeRecorder:
    """A real protocol endpoint that answers 000 to every valid notice and keeps it, replays included."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[str, Answer]] = {}
        self.received: list[dict[str, Any]] = []

    def channel(self, appid: str) -> Channel | None:
        """The one channel this receiver knows."""
        return self._channel if appid == self._channel.appid else None

    def paused(self) -> bool:
        """Never paused."""
        return False

    def replayed(self, appid: str, msgcode: str, fingerprint: str) -> Answer | None:
        """The answer given to an already received msgcode."""
        with self._lock:
            prior = self._answers.get(msgcode)
        if prior is None:
            return None
        if prior[0] != fingerprint:
            raise ProtocolError(Code.INVALID, f"msgcode: {msgcode} was already used for a different request")
        return prior[1]

    def handle(self, request: Inbound) -> Answer:
        """Keep the notice and acknowledge it (once per msgcode)."""
        prior = self.replayed(request.appid, request.msgcode, request.fingerprint)
        if prior is not None:
            return prior
        answer = Answer()
        with self._lock:
            self._answers[request.msgcode] = (request.fingerprint, answer)
            self.received.append(
                {
                    "transcode": request.transcode,
                    "msgcode": request.msgcode,
                    "received_at": datetime.now(UTC).isoformat(),
                    "data": request.payload,
                }
            )
        return answer


def receiver_app(recorder: NoticeRecorder, served: frozenset[str]) -> ProtocolFront:
    """The receiver's app: the protocol endpoints for ``served``, and GET /received."""
    app = FastAPI(title="baohan sandbox notice receiver")

    @app.get("/received")
    def received() -> list[dict[str, Any]]:
        return list(recorder.received)

    return ProtocolFront(app, [ProcurementWire(recorder, validate_request, served)])
