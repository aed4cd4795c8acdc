"""One web app per process, protocol-neutral: every hosted protocol role's wire in front, each role's
admin API under its own prefix (bearer token), and the runtime's dispatcher started with the app.

A protocol contributes a :class:`Mount` per hosted role (its wire codec and its admin routes); the host
knows no protocol by name.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException

from baohan.services.runtime import Runtime
from baohan.services.views import dead_letter_view
from baohan.web.errors import AdminError, install_error_handlers, refuse_nul
from baohan.web.front import ProtocolFront, WireCodec


@dataclass(frozen=True)
class Mount:
    """What one hosted protocol role serves: its wire, and its admin routes under ``admin_prefix``."""

    protocol: str
    role: str
    wire: WireCodec
    admin: APIRouter
    admin_prefix: str = "/admin"


def admin_auth(token: str) -> Callable[..., None]:
    """A dependency that demands ``Authorization: Bearer <token>`` (compared in constant time)."""

    def check(authorization: Annotated[str | None, Header()] = None) -> None:
        supplied = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            raise HTTPException(401, detail="admin API needs Authorization: Bearer <admin token>")

    return check


def outbox_router(runtime: Runtime) -> APIRouter:
    """The runtime's outbox for operators: its dead letters, and putting one back in the queue."""
    router = APIRouter(prefix="/outbox")

    @router.get("/dead")
    def dead() -> list[dict[str, Any]]:
        """Messages given up on: past their deadline, or refused for good."""
        return [dead_letter_view(message) for message in runtime.dead_letters()]

    @router.post("/{message_id}/retry")
    def retry(message_id: str) -> dict[str, str]:
        """Queue a dead letter again, due now, with a new deadline."""
        try:
            runtime.retry_dead(message_id)
        except LookupError as exc:
            raise AdminError(404, str(exc).strip("'\""), "no_such_message") from None
        except ValueError as exc:
            raise AdminError(409, str(exc), "not_dead") from None
        return {"retried": message_id}

    return router


def host_app(
    runtime: Runtime,
    mounts: Sequence[Mount],
    *,
    admin_token: str,
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
    app = FastAPI(title=title, lifespan=lifespan)
    install_error_handlers(app)
    guard = [Depends(admin_auth(admin_token)), Depends(refuse_nul)]
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
