"""A recording receiver for the sandbox: accepts the notices a counterparty pushes and lists them, each as
it crossed the wire beside its decrypted payload; or relays them to the integrator's own receiver."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baohan.protocols.procurement.codes import MESSAGES, Code, ProtocolError
from baohan.protocols.procurement.envelope import (
    SHANGHAI,
    Channel,
    compact_json,
    open_request,
    parse_frame,
)
from baohan.protocols.procurement.router import ENVELOPE_REQUESTS, Answer, Inbound, ProcurementWire
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
                    "received_at": datetime.now(SHANGHAI).isoformat(timespec="milliseconds"),
                    "data": request.payload,
                }
            )
        return answer


def receiver_app(recorder: NoticeRecorder, served: frozenset[str]) -> ProtocolFront:
    """The receiver's app: the protocol endpoints for ``served``, answered by ``recorder``."""
    app = FastAPI(title="baohan sandbox notice receiver")
    return ProtocolFront(app, [ProcurementWire(recorder, validate_request, served)])


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError included; hostile nesting kept as text
        return raw.decode("utf-8", "replace")


def _ids(entry: dict[str, Any]) -> set[str]:
    data = entry.get("data") or {}
    found = {v for k, v in data.items() if k.endswith("Id") and isinstance(v, str)}
    return found | ({entry["msgcode"]} if isinstance(entry.get("msgcode"), str) else set())


class WireNotices:
    """Every notice that reached the sandbox's receiver: the request as sent on the wire (envelope,
    ciphertext, sign), its payload decrypted with the receiver's key, and the answer it got."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, body: bytes, status: int, answer: bytes, forwarded_to: str | None) -> None:
        """Keep one request and its answer; a request that does not decrypt is kept with the reason."""
        wire = _json_or_text(body)
        fields = wire if isinstance(wire, dict) else {}
        entry: dict[str, Any] = {
            "transcode": fields.get("transcode"),
            "msgcode": fields.get("msgcode"),
            "received_at": datetime.now(SHANGHAI).isoformat(timespec="milliseconds"),  # as the wire's reqtime
            "wire": wire,
            "data": None,
            "answer": {"status": status, "body": _json_or_text(answer)},
            "forwarded_to": forwarded_to,
        }
        try:
            frame = parse_frame(wire)
            entry["data"] = open_request(frame, self._channel, envelope=frame.transcode in ENVELOPE_REQUESTS)
        except ProtocolError as exc:
            entry["error"] = exc.message
        with self._lock:
            self._entries.append(entry)

    def listing(self, transcode: str | None = None, ident: str | None = None) -> list[dict[str, Any]]:
        """The notices in arrival order, only ``transcode``'s and those naming ``ident`` (an id in the
        payload such as applicationId or guaranteeId, or the msgcode) when given."""
        with self._lock:
            entries = list(self._entries)
        return [
            e
            for e in entries
            if (transcode is None or e["transcode"] == transcode) and (ident is None or ident in _ids(e))
        ]


class NoticeTap:
    """ASGI in front of a receiver: each protocol POST is answered by ``inner``, or relayed as it is to
    ``forward_to`` (the integrator's receiver, whose answer goes back unchanged), and recorded."""

    def __init__(
        self, inner: ASGIApp, notices: WireNotices, forward_to: str | None = None, timeout: float = 30.0
    ) -> None:
        self.inner, self.notices, self.forward_to, self.timeout = inner, notices, forward_to, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith("/zcdservice/")
        ):
            await self.inner(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.forward_to is not None:
            status, answer = await self._relay(self.forward_to, body)
            self.notices.record(body, status, answer, self.forward_to)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": answer})
            return
        replayed, started, chunks = False, 200, []

        async def once() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def keep(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.inner(scope, once, keep)
        self.notices.record(body, started, b"".join(chunks), None)

    async def _relay(self, url: str, body: bytes) -> tuple[int, bytes]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                reply = await client.post(url, content=body, headers={"content-type": "application/json"})
            return reply.status_code, reply.content
        except httpx.HTTPError as exc:
            # A 5xx: the sandbox's outbox retries it, as it would a receiver that is down.
            detail = f"{MESSAGES[Code.SERVER_ERROR]}: the sandbox could not reach {url}: {exc}"
            return 502, compact_json({"code": Code.SERVER_ERROR.value, "message": detail[:200]}).encode()
