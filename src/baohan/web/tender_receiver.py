"""A recording tender platform for the issuer sandbox: it takes every call an institution makes to a
platform (baohannotice, downloadpublickey, the file slices, …) through the real tender router (sign,
clock and fields checked), answers it, and lists it as it arrived."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from baohan.protocols.fields import SHANGHAI
from baohan.protocols.tender.endpoint import Answer, Inbound, TenderChannel
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.tables import PLATFORM_SERVES
from baohan.protocols.tender.wire import TenderError
from baohan.web.front import ProtocolFront


class CallRecorder:
    """The router's Endpoint of a platform that accepts every valid call from one institution and keeps
    it; a replay is answered as before and kept once."""

    def __init__(self, channel: TenderChannel) -> None:
        self._channel = channel
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, str], tuple[str, Answer]] = {}
        self._calls: list[dict[str, Any]] = []

    def channel(self, appkey: str) -> TenderChannel | None:
        """The one channel this receiver knows."""
        return self._channel if appkey == self._channel.appkey else None

    def paused(self) -> bool:
        """Never paused."""
        return False

    def replayed(self, appkey: str, interface: str, key: str, fingerprint: str) -> Answer | None:
        """The answer given to an already received request."""
        with self._lock:
            prior = self._answers.get((interface, key))
        if prior is None:
            return None
        if prior[0] != fingerprint:
            raise TenderError(f"{key} was already used for a different {interface} request")
        return prior[1]

    def handle(self, request: Inbound) -> Answer:
        """Keep the call and accept it; downloadpublickey is answered with the platform's public key."""
        data = None
        if request.interface == "downloadpublickey":
            data = {"publickey": self._channel.own_key.public_key.to_hex()}
        answer = Answer(data=data)
        with self._lock:
            prior = self._answers.get((request.interface, request.key))
            if prior is not None:
                return prior[1]
            self._answers[(request.interface, request.key)] = (request.fingerprint, answer)
            self._calls.append(
                {
                    "interface": request.interface,
                    "key": request.key,
                    "received_at": datetime.now(SHANGHAI).isoformat(timespec="milliseconds"),
                    "fields": dict(request.fields),
                }
            )
        return answer

    def listing(self, interface: str | None = None, applyno: str | None = None) -> list[dict[str, Any]]:
        """The calls in arrival order; only ``interface``'s, only ``applyno``'s (or ``baohanno``'s) when
        given."""
        with self._lock:
            calls = list(self._calls)
        return [
            call
            for call in calls
            if (interface is None or call["interface"] == interface)
            and (
                applyno is None or applyno in (call["fields"].get("applyno"), call["fields"].get("baohanno"))
            )
        ]


def receiver_app(recorder: CallRecorder, *, prefix: str = "/tender") -> ProtocolFront:
    """The receiver's app: every platform interface at ``{prefix}/{interface}``, answered by ``recorder``."""
    app = FastAPI(title="baohan sandbox tender platform", docs_url=None, redoc_url=None, openapi_url=None)
    return ProtocolFront(app, [TenderWire(recorder, PLATFORM_SERVES, prefix=prefix)])
