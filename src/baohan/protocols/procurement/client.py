"""An httpx client that speaks the procurement envelope to one counterparty."""

from __future__ import annotations

from typing import Any

import httpx

from baohan.protocols.procurement.endpoint import ENVELOPE_REQUESTS, ENVELOPE_RESPONSES
from baohan.protocols.procurement.envelope import (
    Channel,
    Response,
    ResponseInvalid,
    decode_response,
    encode_request,
)
from baohan.protocols.wirejson import parse_json


class TransportError(Exception):
    """The request may not have arrived or its answer was unusable: safe to retry with the same msgcode.

    ``status`` is the HTTP status when the server answered with something other than 200.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProcurementClient:
    """Sends requests to ``url`` (the counterparty's single endpoint, or its prefix with per-transcode paths)."""

    def __init__(
        self,
        url: str,
        channel: Channel,
        *,
        per_transcode_paths: bool = False,
        http: httpx.Client | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.channel = channel
        self.per_transcode_paths = per_transcode_paths
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=timeout)

    def send(self, transcode: str, payload: dict[str, Any], *, msgcode: str | None = None) -> Response:
        """Encrypt, sign and post ``payload``; the decoded answer, or TransportError."""
        wire = encode_request(
            self.channel, transcode, payload, envelope=transcode in ENVELOPE_REQUESTS, msgcode=msgcode
        )
        url = f"{self.url}/{transcode}" if self.per_transcode_paths else self.url
        try:
            reply = self._http.post(url, json=wire)
        except httpx.HTTPError as exc:
            raise TransportError(f"{transcode} to {url}: {type(exc).__name__}: {exc}") from None
        if reply.status_code != 200:
            raise TransportError(f"{transcode} to {url}: HTTP {reply.status_code}", reply.status_code)
        try:
            return decode_response(
                self.channel, parse_json(reply.content), envelope=transcode in ENVELOPE_RESPONSES
            )
        except (ValueError, ResponseInvalid) as exc:
            raise TransportError(f"{transcode} to {url}: unusable answer: {exc}") from None

    def close(self) -> None:
        """Close the HTTP connection pool if this client opened it."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> ProcurementClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
