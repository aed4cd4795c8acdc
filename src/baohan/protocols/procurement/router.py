"""FastAPI router for the procurement protocol: one endpoint dispatching on ``transcode`` and one path each.

The router owns the wire: framing, sign, clock, decryption, validation and the §11.1 error mapping. The
role behind it (an :class:`Endpoint`) owns the business, and the replay record that makes a repeated
``msgcode`` answer the same without a second effect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from baohan.gm import sm3_hex
from baohan.protocols.procurement.codes import MESSAGES, Code, ProtocolError
from baohan.protocols.procurement.envelope import (
    Channel,
    check_clock,
    check_sign,
    encode_response,
    open_request,
    parse_frame,
)

log = logging.getLogger(__name__)
SINGLE_PATH = "/zcdservice/v1/lg/ELYApi"
ENVELOPE_REQUESTS = frozenset({"ELY104"})
ENVELOPE_RESPONSES = frozenset({"ELY103"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What the role answers: a code, its message, and the response data (encrypted on the way out)."""

    code: Code = Code.OK
    message: str = MESSAGES[Code.OK]
    data: dict[str, Any] | None = None


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


class Endpoint(Protocol):
    """The role behind the router (issuer or platform)."""

    def channel(self, appid: str) -> Channel | None:
        """The channel registered for ``appid``, or None when it is unknown."""

    def paused(self) -> bool:
        """True while an operator has paused the service (answered with 301)."""

    def replayed(self, appid: str, msgcode: str, fingerprint: str) -> Answer | None:
        """The stored answer to an already processed ``msgcode``; ProtocolError(103) if it differed."""

    def handle(self, request: Inbound) -> Answer:
        """Process the request and record its answer for replays, in one transaction."""


Validator = Callable[[str, dict[str, Any]], Any]


def fingerprint(transcode: str, payload: dict[str, Any]) -> str:
    """Identity of a request's decrypted content: a retry re-encrypts (SM2 is randomised) but says the same."""
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return sm3_hex(f"{transcode}&{canonical}".encode())


def _reply(channel: Channel | None, transcode: str, answer: Answer) -> JSONResponse:
    if channel is None or answer.data is None:
        body: dict[str, Any] = {"code": answer.code.value, "message": answer.message[:200]}
    else:
        body = encode_response(
            channel, answer.code, answer.message, answer.data, envelope=transcode in ENVELOPE_RESPONSES
        )
    return JSONResponse(body)


def _failure(exc: ProtocolError) -> Answer:
    return Answer(exc.code, exc.message)


def process(
    endpoint: Endpoint,
    validate: Validator,
    served: Collection[str],
    body: bytes,
    expected_transcode: str | None = None,
) -> tuple[Channel | None, str, Answer]:
    """Run one request through the wire checks and the role; never raises (302 for the unexpected)."""
    channel: Channel | None = None
    transcode = expected_transcode or "?"
    msgcode = "?"
    try:
        if endpoint.paused():
            raise ProtocolError(Code.PAUSED)
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise ProtocolError(Code.INVALID, "request body is not JSON") from None
        frame = parse_frame(raw)
        transcode, msgcode = frame.transcode, frame.msgcode
        if expected_transcode is not None and frame.transcode != expected_transcode:
            raise ProtocolError(
                Code.INVALID, f"transcode: {frame.transcode} sent to the {expected_transcode} path"
            )
        if frame.transcode not in served:
            raise ProtocolError(Code.INVALID, f"transcode: {frame.transcode} is not served here")
        channel = endpoint.channel(frame.appid)
        if channel is None:
            raise ProtocolError(Code.SIGN_MISMATCH, f"appid: {frame.appid} is not registered")
        envelope = frame.transcode in ENVELOPE_REQUESTS
        if not envelope:
            check_sign(frame, channel)
        payload = open_request(frame, channel, envelope=envelope)
        digest = fingerprint(frame.transcode, payload)
        # A processed msgcode is answered as before, even once its reqtime has left the clock window.
        prior = endpoint.replayed(frame.appid, frame.msgcode, digest)
        if prior is not None:
            return channel, transcode, prior
        check_clock(frame, channel.profile)
        message = validate(frame.transcode, payload)
        inbound = Inbound(
            frame.appid, frame.msgcode, frame.transcode, frame.sent_at, digest, payload, message
        )
        return channel, transcode, endpoint.handle(inbound)
    except ProtocolError as exc:
        return channel, transcode, _failure(exc)
    except Exception:
        # The answer says nothing of the internals; the log has the trace, keyed by msgcode.
        log.exception("procurement %s msgcode=%s failed unexpectedly", transcode, msgcode)
        return channel, transcode, Answer(Code.SERVER_ERROR, MESSAGES[Code.SERVER_ERROR])


def procurement_router(
    endpoint: Endpoint, validate: Validator, served: Collection[str], *, prefix: str = "/zcdservice/v1/lg"
) -> APIRouter:
    """Routes ``{prefix}/ELYApi`` (dispatch on transcode) and ``{prefix}/ELY1xx`` (one path per transcode)."""
    router = APIRouter(prefix=prefix)
    served = frozenset(served)

    @router.post("/ELYApi", summary="All transcodes on one endpoint (dispatch on transcode)")
    async def single(request: Request) -> JSONResponse:
        body = await request.body()
        channel, transcode, answer = await run_in_threadpool(process, endpoint, validate, served, body)
        return _reply(channel, transcode, answer)

    for code in sorted(served):

        def make(expected: str) -> Callable[[Request], Any]:
            async def one(request: Request) -> JSONResponse:
                body = await request.body()
                channel, transcode, answer = await run_in_threadpool(
                    process, endpoint, validate, served, body, expected
                )
                return _reply(channel, transcode, answer)

            return one

        router.add_api_route(f"/{code}", make(code), methods=["POST"], summary=f"{code} only")
    return router
