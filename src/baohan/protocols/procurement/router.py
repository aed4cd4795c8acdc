"""FastAPI router for the procurement protocol: one endpoint dispatching on ``transcode`` and one path each.

The router owns the wire: framing, sign, clock, decryption, validation and the §11.1 error mapping. The
role behind it (an :class:`Endpoint`) owns the business, and the replay record that makes a repeated
``msgcode`` answer the same without a second effect.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
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
        """The stored answer to an already processed ``msgcode``; ProtocolError(103) if it differed.

        The router asks only for requests outside the clock window; fresh ones go straight to handle.
        """

    def handle(self, request: Inbound) -> Answer:
        """Answer a processed msgcode as before, or process the request and record its answer: atomically."""


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


_Prepared = tuple[Channel | None, str, "Inbound | Answer"]
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _checks_pool() -> ThreadPoolExecutor:
    """One worker per core for the wire checks: SM2 and SM3 run in C with the GIL released, so they use
    the cores the event loop and the database writer leave idle; more threads would only contend."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="wire-checks")
        return _POOL


def _unexpected(transcode: str, msgcode: str) -> Answer:
    # The answer says nothing of the internals; the log has the trace, keyed by msgcode.
    log.exception("procurement %s msgcode=%s failed unexpectedly", transcode, msgcode)
    return Answer(Code.SERVER_ERROR, MESSAGES[Code.SERVER_ERROR])


def prepare(
    endpoint: Endpoint,
    validate: Validator,
    served: Collection[str],
    body: bytes,
    expected_transcode: str | None = None,
) -> _Prepared:
    """The wire checks of one request: an Inbound for the role, or already the Answer; never raises."""
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
        try:
            check_clock(frame, channel.profile)
        except ProtocolError:
            # A processed msgcode is answered as before, even once its reqtime has left the clock window.
            prior = endpoint.replayed(frame.appid, frame.msgcode, digest)
            if prior is None:
                raise
            return channel, transcode, prior
        message = validate(frame.transcode, payload)
        return (
            channel,
            transcode,
            Inbound(frame.appid, frame.msgcode, frame.transcode, frame.sent_at, digest, payload, message),
        )
    except ProtocolError as exc:
        return channel, transcode, _failure(exc)
    except Exception:
        return channel, transcode, _unexpected(transcode, msgcode)


def process(
    endpoint: Endpoint,
    validate: Validator,
    served: Collection[str],
    body: bytes,
    expected_transcode: str | None = None,
) -> tuple[Channel | None, str, Answer]:
    """Run one request through the wire checks and the role, in this thread; never raises."""
    channel, transcode, step = prepare(endpoint, validate, served, body, expected_transcode)
    if isinstance(step, Answer):
        return channel, transcode, step
    try:
        return channel, transcode, endpoint.handle(step)
    except ProtocolError as exc:
        return channel, transcode, _failure(exc)
    except Exception:
        return channel, transcode, _unexpected(transcode, step.msgcode)


async def process_async(
    endpoint: Endpoint,
    validate: Validator,
    served: Collection[str],
    body: bytes,
    expected_transcode: str | None = None,
) -> tuple[Channel | None, str, Answer]:
    """As :func:`process`, for the event loop: the checks run here (short CPU work), and the role's
    blocking work runs in a worker thread, or is awaited when the role offers ``handle_async``.
    """
    loop = asyncio.get_running_loop()
    channel, transcode, step = await loop.run_in_executor(
        _checks_pool(), prepare, endpoint, validate, served, body, expected_transcode
    )
    if isinstance(step, Answer):
        return channel, transcode, step
    handle_async = getattr(endpoint, "handle_async", None)
    try:
        if handle_async is not None:
            answer = await handle_async(step)
        else:
            answer = await run_in_threadpool(endpoint.handle, step)
    except ProtocolError as exc:
        return channel, transcode, _failure(exc)
    except Exception:
        return channel, transcode, _unexpected(transcode, step.msgcode)
    return channel, transcode, answer


def procurement_router(
    endpoint: Endpoint, validate: Validator, served: Collection[str], *, prefix: str = "/zcdservice/v1/lg"
) -> APIRouter:
    """Routes ``{prefix}/ELYApi`` (dispatch on transcode) and ``{prefix}/ELY1xx`` (one path per transcode)."""
    router = APIRouter(prefix=prefix)
    served = frozenset(served)

    @router.post("/ELYApi", summary="All transcodes on one endpoint (dispatch on transcode)")
    async def single(request: Request) -> JSONResponse:
        body = await request.body()
        channel, transcode, answer = await process_async(endpoint, validate, served, body)
        return _reply(channel, transcode, answer)

    for code in sorted(served):

        def make(expected: str) -> Callable[[Request], Any]:
            async def one(request: Request) -> JSONResponse:
                body = await request.body()
                channel, transcode, answer = await process_async(endpoint, validate, served, body, expected)
                return _reply(channel, transcode, answer)

            return one

        router.add_api_route(f"/{code}", make(code), methods=["POST"], summary=f"{code} only")
    return router
