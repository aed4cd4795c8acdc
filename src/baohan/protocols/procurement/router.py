"""FastAPI router for the procurement protocol: one endpoint dispatching on ``transcode`` and one path each.

The router owns the wire: framing, sign, clock, decryption, validation and the §11.1 error mapping. The
role behind it (an :class:`Endpoint`) owns the business, and the replay record that makes a repeated
``msgcode`` answer the same without a second effect.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import queue
import threading
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from baohan.protocols.handoff import resolve_from_thread
from baohan.protocols.procurement.codes import MESSAGES, Code, ProtocolError
from baohan.protocols.procurement.endpoint import (
    ENVELOPE_REQUESTS,
    ENVELOPE_RESPONSES,
    Answer,
    Endpoint,
    Inbound,
    Validator,
    fingerprint,
    fingerprint_of,
)
from baohan.protocols.procurement.envelope import (
    Channel,
    canonical_json,
    check_clock,
    check_sign,
    compact_json,
    encode_response,
    open_request,
    parse_frame,
)
from baohan.protocols.wirejson import NotUnicode, parse_json

# Answer, Inbound, Endpoint, Validator and fingerprint live in .endpoint and are re-exported here: the
# router's callers name them from the router.
__all__ = [
    "ENVELOPE_REQUESTS",
    "ENVELOPE_RESPONSES",
    "SINGLE_PATH",
    "Answer",
    "Endpoint",
    "Inbound",
    "ProtocolFront",
    "Validator",
    "fingerprint",
    "process",
    "process_async",
    "procurement_router",
]
log = logging.getLogger(__name__)
SINGLE_PATH = "/zcdservice/v1/lg/ELYApi"
_T = TypeVar("_T")


def _reply_body(channel: Channel | None, transcode: str, answer: Answer) -> dict[str, Any]:
    if channel is None or answer.data is None:
        return {"code": answer.code.value, "message": answer.message[:200]}
    return encode_response(
        channel, answer.code, answer.message, answer.data, envelope=transcode in ENVELOPE_RESPONSES
    )


def _reply(channel: Channel | None, transcode: str, answer: Answer) -> JSONResponse:
    return JSONResponse(_reply_body(channel, transcode, answer))


def _failure(exc: ProtocolError) -> Answer:
    return Answer(exc.code, exc.message)


_Prepared = tuple[Channel | None, str, "Inbound | Answer"]


class _Checks:
    """Worker threads for the wire checks, one per core: SM2 decryption runs in C without the GIL, so the
    workers decrypt on the cores the event loop and the database writer leave idle.

    Results go back to the event loop in batches (one wake-up for whatever finished meanwhile, up to
    ``_FLUSH``): each wake-up is a system call and a GIL hand-off, and one per request cost more than the
    checks themselves.
    """

    _FLUSH = 8

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._queue: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]]
        ]
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False

    def run(self, call: Callable[[], _T]) -> asyncio.Future[_T]:
        """``call()`` on a worker; the future belongs to the running loop."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()
        self._queue.put((loop, future, call))
        return future

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                for n in range(self._workers):
                    threading.Thread(target=self._work, name=f"wire-checks-{n}", daemon=True).start()
                self._started = True

    def _work(self) -> None:
        done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        pending = 0
        while True:
            loop, future, call = self._queue.get()
            try:
                done.setdefault(loop, []).append((future, True, call()))
            except BaseException as exc:  # prepare never raises; anything else still reaches its caller
                done.setdefault(loop, []).append((future, False, exc))
            pending += 1
            if pending >= self._FLUSH or self._queue.empty():
                for target, items in done.items():
                    resolve_from_thread(target, items)
                done, pending = {}, 0


_CHECKS = _Checks(os.cpu_count() or 2)


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
            raw = parse_json(body)
        except NotUnicode as exc:
            raise ProtocolError(Code.INVALID, f"request body: {exc}") from None
        except ValueError:  # UnicodeDecodeError included
            raise ProtocolError(Code.INVALID, "request body is not UTF-8 JSON") from None
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
        canonical = canonical_json(payload)
        digest = fingerprint_of(frame.transcode, canonical)
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
            Inbound(
                frame.appid,
                frame.msgcode,
                frame.transcode,
                frame.sent_at,
                digest,
                payload,
                message,
                canonical,
            ),
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
    """As :func:`process`, for the event loop: the wire checks run on the check workers, and the role's
    blocking work runs in a worker thread, or is awaited when the role offers ``handle_async``.
    """
    channel, transcode, step = await _CHECKS.run(
        functools.partial(prepare, endpoint, validate, served, body, expected_transcode)
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

    def make(expected: str | None) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint_(request: Request) -> Response:
            body = await request.body()
            channel, transcode, answer = await process_async(endpoint, validate, served, body, expected)
            return _reply(channel, transcode, answer)

        return endpoint_

    # Plain Starlette routes: the body is the protocol's to parse, so FastAPI's request machinery (dependency
    # solving, parameter validation) would only add ~50 µs a request. They are documented in the README,
    # not in /openapi.json.
    router.add_route(f"{prefix}/ELYApi", make(None), methods=["POST"])
    for code in sorted(served):
        router.add_route(f"{prefix}/{code}", make(code), methods=["POST"])
    return router


MAX_BODY_BYTES = 64 * 1024 * 1024  # ELY104 carries a whole guarantee file, Base64-encoded
_JSON_HEADERS = [(b"content-type", b"application/json")]


class ProtocolFront:
    """ASGI front for a role's app: protocol POSTs go straight to :func:`process_async`; everything else
    (admin API, other methods, lifespan) to ``app``.

    The framework's layers (error and telemetry middleware, routing over every admin route, request
    objects) cost about as much per request as all our checks besides the crypto; the protocol needs none
    of them: it takes raw bytes and always answers 200 with a JSON body, even when something fails.
    """

    def __init__(
        self,
        app: ASGIApp,
        endpoint: Endpoint,
        validate: Validator,
        served: Collection[str],
        *,
        prefix: str = "/zcdservice/v1/lg",
    ) -> None:
        self.app = app
        self._endpoint, self._validate, self._served = endpoint, validate, frozenset(served)
        self._paths: dict[str, str | None] = {f"{prefix}/ELYApi": None}
        self._paths.update({f"{prefix}/{code}": code for code in self._served})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in self._paths:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                answer = Answer(Code.INVALID, f"request body: larger than {MAX_BODY_BYTES} bytes")
                await self._send(send, {"code": answer.code.value, "message": answer.message})
                return
            if not message.get("more_body", False):
                break
        expected = self._paths[path]
        channel, transcode, answer = await process_async(
            self._endpoint, self._validate, self._served, bytes(body), expected
        )
        try:
            reply = _reply_body(channel, transcode, answer)
        except Exception:
            failure = _unexpected(transcode, "?")
            reply = {"code": failure.code.value, "message": failure.message}
        await self._send(send, reply)

    @staticmethod
    async def _send(send: Send, reply: dict[str, Any]) -> None:
        payload = compact_json(reply).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
