"""One web app per process, protocol-neutral, behind two listeners.

The protocol listener serves every hosted protocol role's wire, ``/health`` and ``/ready``: it is what
counterparties reach. The admin listener (loopback by default) serves each role's admin API under its own
prefix (each operator's bearer token, see :mod:`baohan.web.admin`), the API's docs served from the
package, ``/health``, ``/ready`` with its details and ``/metrics``. The runtime's dispatcher starts with
the app.

A protocol contributes a :class:`Mount` per hosted role (its wire codec and its admin routes); the host
knows no protocol by name.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from baohan.adapters import metrics
from baohan.adapters.logs import REQUEST_ID, new_request_id
from baohan.protocols.reply import Reply
from baohan.services import readiness
from baohan.services.operators import Operators
from baohan.services.runtime import Runtime
from baohan.web.admin import admin_auth, outbox_router
from baohan.web.docs import offline_docs
from baohan.web.errors import install_error_handlers, refuse_nul
from baohan.web.front import ProtocolFront, WireCodec

requests_log = logging.getLogger("baohan.requests")


@dataclass(frozen=True)
class Mount:
    """What one hosted protocol role serves: its wire, and its admin routes under ``admin_prefix``."""

    protocol: str
    role: str
    wire: WireCodec
    admin: APIRouter
    admin_prefix: str = "/admin"
    public: APIRouter | None = (
        None  # pages and files counterparties and their users reach (tender: the bidder's)
    )


@dataclass(frozen=True)
class HostedApp:
    """One process's app as its two listeners see it."""

    protocol: ASGIApp  # what counterparties reach: the protocol wire, /health, /ready
    admin: FastAPI  # what operators reach: the admin API and its docs, /health, /ready, /metrics

    def on(self, admin_port: int) -> ASGIApp:
        """One ASGI app for a server listening on both: connections to ``admin_port`` get the admin side."""
        return _ByListener(self.protocol, self.admin, admin_port)


class _ByListener:
    """Sends each connection to the app of the listener it came in on (by local port); the lifespan, which
    starts the runtime's dispatcher, to the admin side."""

    def __init__(self, protocol: ASGIApp, admin: ASGIApp, admin_port: int) -> None:
        self._protocol, self._admin, self._admin_port = protocol, admin, admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._admin(scope, receive, send)
            return
        server = scope.get("server")
        admin = server is not None and server[1] == self._admin_port
        await (self._admin if admin else self._protocol)(scope, receive, send)


def host_app(
    runtime: Runtime,
    mounts: Sequence[Mount],
    *,
    admin_token: str | None,
    run_dispatcher: bool = True,
    extra: APIRouter | None = None,
) -> HostedApp:
    """The process's app for ``runtime``'s roles; ``extra`` routes go on the admin listener behind the
    operators' tokens (the sandbox's listing)."""
    prefixes = [m.admin_prefix for m in mounts]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError("each hosted role needs its own admin prefix")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_dispatcher:
            runtime.start()
        yield
        runtime.stop()

    title = "baohan " + ", ".join(f"{m.protocol} {m.role}" for m in mounts)
    admin = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    offline_docs(admin)
    install_error_handlers(admin)
    # $BAOHAN_ADMIN_TOKEN, when given, is the operator "admin"; everyone else has a token of their own.
    operators = Operators(runtime.sessions, {"admin": admin_token} if admin_token is not None else None)
    guard = [Depends(admin_auth(operators)), Depends(refuse_nul)]
    admin.include_router(outbox_router(runtime), prefix="/admin", dependencies=guard, tags=["admin"])
    for mount in mounts:
        admin.include_router(mount.admin, prefix=mount.admin_prefix, dependencies=guard, tags=["admin"])
    roles = [f"{m.protocol}:{m.role}" for m in mounts]
    outbox_gauges = metrics.OutboxCollector(runtime.backlog)

    @admin.get("/health", tags=["operations"])
    def admin_health() -> dict[str, Any]:
        """Alive: the process answers (no database call). Which roles run here."""
        return {"status": "alive", "roles": roles}

    @admin.get("/ready", tags=["operations"])
    def admin_ready() -> JSONResponse:
        """Ready to serve: the database answers and our keys open (503 otherwise); the outbox backlog."""
        state = readiness.check(runtime)
        return JSONResponse(state.view(), status_code=200 if state.ready else 503)

    @admin.get("/metrics", tags=["operations"])
    def admin_metrics() -> Response:
        """Prometheus text format: requests, latencies, deliveries, and the outbox read from the database."""
        return Response(metrics.exposition([outbox_gauges]), media_type=metrics.CONTENT_TYPE)

    if extra is not None:
        admin.include_router(extra, dependencies=guard)
    admin.middleware("http")(_admin_requests)

    # The protocol listener shows no docs or schema: they list every admin route.
    public = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)

    @public.get("/health")
    def health() -> dict[str, str]:
        """Alive: the process answers (no database call)."""
        return {"status": "alive"}

    @public.get("/ready")
    def ready() -> JSONResponse:
        """Ready or not (503), without the details a counterparty has no business knowing."""
        state = readiness.check(runtime)
        return JSONResponse({"ready": state.ready}, status_code=200 if state.ready else 503)

    for mount in mounts:
        if mount.public is not None:
            public.include_router(mount.public)

    labels = {id(m.wire): (m.protocol, m.role) for m in mounts}
    counted: dict[tuple[int, str, str], tuple[Any, Any]] = {}  # the metrics' children, looked up once

    def observe(codec: WireCodec, reply: Reply, seconds: float, request_id: str) -> None:
        protocol, role = labels.get(id(codec), ("?", "?"))
        key = (id(codec), reply.interface, reply.code)
        children = counted.get(key)
        if children is None:
            children = counted[key] = (
                metrics.REQUESTS.labels(protocol, role, reply.interface, reply.code),
                metrics.LATENCY.labels(protocol, role, reply.interface),
            )
        children[0].inc()
        children[1].observe(seconds)
        requests_log.info(
            "%s %s msgcode=%s answered %s",
            role,
            reply.interface,
            reply.msgcode,
            reply.code,
            extra={
                "request_id": request_id,
                "fields": {
                    "protocol": protocol,
                    "role": role,
                    "interface": reply.interface,
                    "msgcode": reply.msgcode,
                    "code": reply.code,
                    "duration_ms": round(seconds * 1000, 2),
                },
            },
        )

    # Protocol POSTs take the lean path in front of the framework.
    return HostedApp(ProtocolFront(public, [m.wire for m in mounts], observe=observe), admin)


async def _admin_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """One log line per admin request, and the request id that the notices it causes carry."""
    request_id = new_request_id(request.headers.get("x-request-id"))
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    try:
        response = await call_next(request)
    finally:
        REQUEST_ID.reset(token)
    seconds = time.perf_counter() - started
    response.headers["x-request-id"] = request_id
    metrics.ADMIN_REQUESTS.labels(str(response.status_code)).inc()
    requests_log.info(
        "admin %s %s answered %d",
        request.method,
        request.url.path,
        response.status_code,
        extra={
            "request_id": request_id,
            "fields": {
                "interface": "admin",
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
            },
        },
    )
    return response
