"""One web app per process, protocol-neutral: every hosted protocol role's wire in front, each role's
admin API under its own prefix (each operator's bearer token, see :mod:`baohan.web.admin`), the docs page
served from the package, and the runtime's dispatcher started with the app.

A protocol contributes a :class:`Mount` per hosted role (its wire codec and its admin routes); the host
knows no protocol by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI

from baohan.services.operators import Operators
from baohan.services.runtime import Runtime
from baohan.web.admin import AdminError, admin_auth, admin_error_response, outbox_router
from baohan.web.docs import offline_docs
from baohan.web.front import ProtocolFront, WireCodec


@dataclass(frozen=True)
class Mount:
    """What one hosted protocol role serves: its wire, and its admin routes under ``admin_prefix``."""

    protocol: str
    role: str
    wire: WireCodec
    admin: APIRouter
    admin_prefix: str = "/admin"


def host_app(
    runtime: Runtime,
    mounts: Sequence[Mount],
    *,
    admin_token: str | None,
    run_dispatcher: bool = True,
    extra: APIRouter | None = None,
) -> ProtocolFront:
    """The process's app for ``runtime``'s roles; ``extra`` routes are added as they are (the sandbox's)."""
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
    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    offline_docs(app)
    app.add_exception_handler(AdminError, admin_error_response)
    # $BAOHAN_ADMIN_TOKEN, when given, is the operator "admin"; everyone else has a token of their own.
    operators = Operators(runtime.sessions, {"admin": admin_token} if admin_token is not None else None)
    guard = [Depends(admin_auth(operators))]
    app.include_router(outbox_router(runtime), prefix="/admin", dependencies=guard, tags=["admin"])
    for mount in mounts:
        app.include_router(mount.admin, prefix=mount.admin_prefix, dependencies=guard, tags=["admin"])
    if extra is not None:
        app.include_router(extra)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Which roles run here and how many notices wait."""
        roles = [f"{m.protocol}:{m.role}" for m in mounts]
        return {
            "role": mounts[0].role if len(mounts) == 1 else None,
            "roles": roles,
            "pending_outbox": runtime.pending(),
        }

    # Protocol POSTs take the lean path in front of the framework.
    return ProtocolFront(app, [m.wire for m in mounts])
