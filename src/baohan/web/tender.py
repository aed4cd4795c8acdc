"""The tender roles on the web: for each hosted role, its wire (``/tender/<interface>``) and its admin API
(under ``/admin/tender``), following procurement's admin conventions (operators' bearer tokens, pages of
``limit``/``offset``, one error shape). The issuer's protocol listener also serves what bidders reach:
the bidder page and the invoice files.

A project field (biaoduanno, biaoduanname, zbr, zbrorgnum) is never shown in plain text before the bid
opened and the project key arrived (:mod:`baohan.services.tender.views`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from baohan.domain.tender import Stage
from baohan.protocols.tender.router import DEFAULT_PREFIX, TenderWire
from baohan.services.runtime import HostedRole
from baohan.services.tender import views
from baohan.services.tender.registry import PROTOCOL
from baohan.services.tender.roles import TenderRoleBase
from baohan.services.views import Period, Window
from baohan.web.admin import NO_NUL, Page, operator, period, window
from baohan.web.counterparties import counterparty_router
from baohan.web.errors import AdminError
from baohan.web.host import Mount
from baohan.web.tender_models import TenderApplicationOut, TenderEventOut, TenderPausedOut

ADMIN_PREFIX = "/admin/tender"
T = TypeVar("T")

Actor = Annotated[str, Depends(operator)]
Paged = Annotated[Window, Depends(window)]
Created = Annotated[Period, Depends(period)]


class PauseIn(BaseModel):
    """Pause (every request answered "service paused") or resume the role's tender endpoints."""

    paused: bool


def act(call: Callable[[], T]) -> T:
    """``call()``, its refusals as the admin API's errors: 404 for what is not there, 409 for what the
    lifecycle or the counterparty does not allow now, 422 for a bad value (each message says why)."""
    try:
        return call()
    except LookupError as exc:
        raise AdminError(404, "not_found", str(exc).strip("'\"")) from None
    except ValueError as exc:
        raise AdminError(409, "conflict", str(exc)) from None


def find(role: TenderRoleBase, key: str) -> Any:
    """This side's application ``key``: our id, or an applyno or baohanno of one counterparty."""
    context = role.context
    with context.sessions() as session:
        try:
            return context.store.get(session, key)
        except LookupError:
            pass
        found = [
            app
            for peer in context.registry.listing()
            for app in (
                context.store.by_applyno(session, peer.id, key),
                context.store.by_baohanno(session, peer.id, key),
            )
            if app is not None
        ]
    ids = {app.id for app in found}
    if not ids:
        raise LookupError(f"no tender application {key}")
    if len(ids) > 1:
        raise ValueError(f"{key} names applications of several counterparties: use our id")
    return found[0]


def shown(app: Any) -> TenderApplicationOut:
    """An application as the admin API answers it (project fields sealed until restored)."""
    return TenderApplicationOut.model_validate(views.application_view(app))


def _common_admin(router: APIRouter, role: TenderRoleBase) -> None:
    context = role.context

    @router.post("/pause")
    def pause(body: PauseIn) -> TenderPausedOut:
        """Pause (every request answered "service paused") or resume this role's tender endpoints."""
        role.pause(body.paused)
        return TenderPausedOut(paused=body.paused)

    @router.get("/applications")
    def applications(
        page: Paged,
        created: Created,
        stage: Stage | None = None,
        counterparty_id: Annotated[str | None, Query(max_length=36, pattern=NO_NUL)] = None,
    ) -> Page[TenderApplicationOut]:
        """Applications, newest first, kept to a stage, a counterparty, a creation period."""
        filters = views.Filters(role.side, stage, counterparty_id, created)
        found = views.applications(context.sessions, page, filters)
        return Page[TenderApplicationOut].model_validate(found.plain())

    @router.get("/applications/{key}")
    def application(key: str) -> TenderApplicationOut:
        """One application by our id, its applyno or its baohanno."""
        return shown(act(lambda: find(role, key)))

    @router.get("/applications/{key}/history")
    def history(key: str, page: Paged) -> Page[TenderEventOut]:
        """An application's history, oldest first: what happened, who did it, when."""
        app = act(lambda: find(role, key))
        events = views.history(context.sessions, app.id)
        chosen = events[page.offset : page.offset + page.limit]
        return Page[TenderEventOut](
            items=[TenderEventOut.model_validate(e) for e in chosen],
            total=len(events),
            limit=page.limit,
            offset=page.offset,
        )


def mount(
    hosted: HostedRole,
    *,
    prefix: str = DEFAULT_PREFIX,
    admin_prefix: str = ADMIN_PREFIX,
    admin: Callable[[APIRouter, Any], None] | None = None,
    public: APIRouter | None = None,
) -> Mount:
    """What a tender role serves: its wire under ``prefix``, its admin API under ``admin_prefix`` (the
    common routes, then ``admin``'s), and ``public`` routes on the protocol listener."""
    role = hosted.service
    if not isinstance(role, TenderRoleBase):
        raise TypeError(f"{PROTOCOL}:{hosted.role} does not host a tender role")
    router = APIRouter()
    _common_admin(router, role)
    router.include_router(counterparty_router(hosted.registry))
    if admin is not None:
        admin(router, role)
    wire = TenderWire(role, role.served, prefix=prefix)
    return Mount(PROTOCOL, hosted.role, wire, router, admin_prefix, public)
