"""The protocol front, protocol-neutral: raw request bytes in, the protocol's answer out, ahead of the app.

Each hosted protocol role hands in a :class:`WireCodec`: the POST paths it serves, the wire checks of one
request (run on the check workers) and the role's answer. Everything else (the admin API, other methods,
lifespan) goes to the web app behind. The framework's layers (error and telemetry middleware, routing
over every admin route, request objects) cost about as much per request as all our checks besides the
crypto, and a protocol needs none of them: it takes raw bytes and always answers 200 with a body.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from baohan.adapters.logs import REQUEST_ID, new_request_id
from baohan.protocols.handoff import Resolution, resolve_from_thread
from baohan.protocols.reply import Reply

MAX_BODY_BYTES = 64 * 1024 * 1024  # a whole guarantee file, Base64-encoded, fits
_T = TypeVar("_T")
_JSON_HEADERS = [(b"content-type", b"application/json")]


class WireCodec(Protocol):
    """One protocol role's wire, as the front drives it."""

    @property
    def paths(self) -> Mapping[str, str | None]:
        """The POST paths served, each with the interface it expects (None: the body names it)."""

    def prepare(self, body: bytes, expected: str | None) -> Any:
        """The wire checks of one request, on a check worker: thread-safe, never raises."""

    async def complete(self, prepared: Any) -> Reply:
        """The role's work on a prepared request and the encoded answer; never raises."""

    def oversized(self, limit: int) -> Reply:
        """The encoded refusal of a body larger than ``limit`` bytes."""


# Told of every protocol request answered: the codec, its reply, the seconds it took, its request id.
Observer = Callable[[WireCodec, Reply, float, str], None]


class CheckPool:
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
        done: dict[asyncio.AbstractEventLoop, list[Resolution]] = {}
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


CHECKS = CheckPool(os.cpu_count() or 2)


class ProtocolFront:
    """ASGI front: protocol POSTs to their codec, everything else to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        codecs: Sequence[WireCodec],
        *,
        max_body: int = MAX_BODY_BYTES,
        pool: CheckPool = CHECKS,
        observe: Observer | None = None,
    ) -> None:
        self.app = app
        self._max_body = max_body
        self._pool = pool
        self._observe = observe
        self._routes: dict[str, tuple[WireCodec, str | None]] = {}
        for codec in codecs:
            for path, expected in codec.paths.items():
                if path in self._routes:
                    raise ValueError(f"two protocol roles serve {path}: give one of them another prefix")
                self._routes[path] = (codec, expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope.get("path", "")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 405, "headers": [(b"allow", b"POST")]})
            await send({"type": "http.response.body", "body": b""})
            return
        codec, expected = route
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self._max_body:
                break
            if not message.get("more_body", False):
                break
        started = time.perf_counter()
        request_id = new_request_id(_header(scope, b"x-request-id"))
        token = REQUEST_ID.set(request_id)  # the role's work, and the notices it writes, carry it
        try:
            if len(body) > self._max_body:
                reply = codec.oversized(self._max_body)
            else:
                prepared = await self._pool.run(lambda: codec.prepare(bytes(body), expected))
                reply = await codec.complete(prepared)
        finally:
            REQUEST_ID.reset(token)
        await _send(send, reply.body, request_id)
        if self._observe is not None:
            self._observe(codec, reply, time.perf_counter() - started, request_id)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _send(send: Send, payload: bytes, request_id: str) -> None:
    headers = [
        *_JSON_HEADERS,
        (b"content-length", str(len(payload)).encode()),
        (b"x-request-id", request_id.encode("ascii")),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
