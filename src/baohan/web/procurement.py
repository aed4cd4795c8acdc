"""FastAPI apps for the procurement roles: the protocol endpoints plus a JSON admin API for operators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from baohan.domain.lifecycle import Stage
from baohan.gm import SM2PublicKey
from baohan.protocols.fields import MessageInvalid
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.router import DEFAULT_PREFIX, ProcurementWire
from baohan.protocols.profile import Profile
from baohan.services.procurement import views
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.platform import PlatformService
from baohan.services.procurement.registry import PROTOCOL
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import RoleRuntime
from baohan.services.procurement.views import Filters, application_view, claim_view, refund_view
from baohan.services.views import Period, Window
from baohan.web.admin import NO_NUL, Page, operator, period, window
from baohan.web.counterparties import counterparty_router
from baohan.web.errors import AdminError
from baohan.web.host import HostedApp, Mount, host_app
from baohan.web.procurement_models import (
    ApplicationOut,
    ClaimOut,
    ClaimStatus,
    EventOut,
    InstitutionOut,
    PausedOut,
    RefundKind,
    RefundOut,
    RefundStatus,
)


def validate_request(transcode: str, payload: dict[str, Any]) -> Any:
    """The typed message for ``payload``; 103 naming the field and the rule otherwise."""
    try:
        return m.parse_request(transcode, payload)
    except MessageInvalid as exc:
        raise ProtocolError(Code.INVALID, str(exc)) from None


def _operator(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except OperatorError as exc:
        message = str(exc)
        if message.startswith("no "):
            raise AdminError(404, "not_found", message) from None
        raise AdminError(409, "conflict", message) from None


def _money(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("must be an amount like 625.00") from None
    if amount != amount.quantize(Decimal("0.01")) or amount < 0 or not amount.is_finite():
        raise ValueError("must be a non-negative amount with at most two decimals")
    return amount.quantize(Decimal("0.01"))


class PaymentIn(BaseModel):
    """A premium payment an operator records."""

    amount: str = Field(description="e.g. 625.00")
    paid_at: datetime = Field(description="ISO 8601 with a zone")
    pay_type: Literal["01", "02", "03", "04"] = "01"

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        _money(value)
        return value

    @field_validator("paid_at")
    @classmethod
    def _zone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-23T10:00:00+08:00")
        return value


class ReasonIn(BaseModel):
    """A free-text reason."""

    reason: str = Field(min_length=1, max_length=255)


class ClaimDecisionIn(BaseModel):
    """Pay or refuse a claim."""

    pay: bool
    amount: str | None = None
    reason: str = Field(default="", max_length=255)

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str | None) -> str | None:
        if value is not None:
            _money(value)
        return value


class RefundDecisionIn(BaseModel):
    """Accept or refuse an ELY109 cancellation or surrender (a refusal needs a reason)."""

    accept: bool
    reason: str = Field(default="", max_length=255)


class PauseIn(BaseModel):
    """Pause (301) or resume the protocol endpoints."""

    paused: bool


Actor = Annotated[str, Depends(operator)]


def _filters(
    application_id: Annotated[
        str | None, Query(description="the platform's applicationId", max_length=64, pattern=NO_NUL)
    ] = None,
    guarantee_id: Annotated[
        str | None, Query(description="the guaranteeId", max_length=64, pattern=NO_NUL)
    ] = None,
    created: Annotated[Period, Depends(period)] = Period(),  # noqa: B008 - FastAPI's idiom
) -> Filters:
    return Filters(application_id=application_id, guarantee_id=guarantee_id, period=created)


Chosen = Annotated[Filters, Depends(_filters)]
Paged = Annotated[Window, Depends(window)]


def _common_admin(router: APIRouter, runtime: RoleRuntime) -> None:
    service = runtime.service
    sessions = runtime.runtime.sessions

    @router.post("/pause")
    def pause(body: PauseIn) -> PausedOut:
        """Pause (every request answered 301) or resume the protocol endpoints."""
        service.pause(body.paused)
        return PausedOut(paused=body.paused)

    @router.get("/applications")
    def applications(chosen: Chosen, page: Paged, stage: Stage | None = None) -> Page[ApplicationOut]:
        """Applications, newest first, kept to a stage, an applicationId, a guaranteeId, a creation period."""
        found = views.applications(sessions, service.side, replace(chosen, state=stage), page)
        return Page[ApplicationOut].model_validate(found.plain())

    @router.get("/applications/{key}")
    def application(key: str) -> ApplicationOut:
        """One application by our id, its applicationId or its guaranteeId."""
        return _shown(_operator(lambda: service.application(key)))

    @router.get("/applications/{key}/history")
    def history(key: str, page: Paged) -> Page[EventOut]:
        """The audit trail of one application, oldest first: who did what, when."""
        app = _operator(lambda: service.application(key))
        return Page[EventOut].model_validate(views.history(sessions, app.id, page).plain())

    @router.get(
        "/applications/{key}/file",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}},
    )
    def file(key: str) -> Response:
        """The guarantee letter (PDF)."""
        name, content = _operator(lambda: service.file(key))
        return Response(
            content,
            media_type="application/pdf",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )


def _shown(app: Any) -> ApplicationOut:
    return ApplicationOut.model_validate(application_view(app))


def _issuer_admin(router: APIRouter, service: IssuerService, runtime: RoleRuntime) -> None:
    sessions = runtime.runtime.sessions

    @router.post("/applications/{key}/approve")
    def approve(key: str, actor: Actor) -> ApplicationOut:
        """Approve the application: ELY102 01 with the premium goes to the platform."""
        return _shown(_operator(lambda: service.approve(service.application(key).id, actor)))

    @router.post("/applications/{key}/reject")
    def reject(key: str, body: ReasonIn, actor: Actor) -> ApplicationOut:
        """Reject the application with a reason (ELY102 02)."""
        return _shown(_operator(lambda: service.reject(service.application(key).id, body.reason, actor)))

    @router.post("/applications/{key}/payments")
    def pay(key: str, body: PaymentIn, actor: Actor) -> ApplicationOut:
        """Record the premium paid (ELY102 05)."""
        return _shown(
            _operator(
                lambda: service.record_payment(
                    service.application(key).id, _money(body.amount), body.paid_at, body.pay_type, actor
                )
            )
        )

    @router.post("/applications/{key}/issue")
    def issue(key: str, actor: Actor) -> ApplicationOut:
        """Issue the guarantee: the signed letter goes to the platform (ELY102 03)."""
        return _shown(_operator(lambda: service.issue(service.application(key).id, actor)))

    @router.get("/claims")
    def claims(
        chosen: Chosen, page: Paged, actor: Actor, status: ClaimStatus | None = None, reveal: bool = False
    ) -> Page[ClaimOut]:
        """Claims, newest first, kept to a status, an applicationId, a guaranteeId, a creation period; the
        claimant's identity number masked unless ``reveal`` (recorded in each application's audit trail)."""
        found = views.claims(
            sessions, service.side, replace(chosen, state=status), page, service.box, reveal=reveal
        )
        if reveal:
            service.record_reveal(
                [item["application"] for item in found.items], actor, "claimant identity numbers"
            )
        return Page[ClaimOut].model_validate(found.plain())

    @router.get("/refunds")
    def refunds(
        chosen: Chosen, page: Paged, status: RefundStatus | None = None, kind: RefundKind | None = None
    ) -> Page[RefundOut]:
        """ELY109 cancellations and surrenders, newest first, kept to a status, a kind, an applicationId,
        a guaranteeId, a creation period."""
        found = views.refunds(sessions, service.side, replace(chosen, state=status, kind=kind), page)
        return Page[RefundOut].model_validate(found.plain())

    @router.post("/refunds/{refund_id}/decision")
    def decide_refund(refund_id: str, body: RefundDecisionIn, actor: Actor) -> RefundOut:
        """Accept or refuse a cancellation or surrender (a refusal needs a reason)."""
        decided = _operator(
            lambda: service.decide_refund(refund_id, accept=body.accept, reason=body.reason, actor=actor)
        )
        return RefundOut.model_validate(refund_view(decided, service.application(decided.application_pk)))

    @router.post("/claims/{claim_id}/decision")
    def decide(claim_id: str, body: ClaimDecisionIn, actor: Actor) -> ClaimOut:
        """Pay or refuse a claim (ELY106)."""
        amount = _money(body.amount) if body.amount is not None else None
        decided = _operator(
            lambda: service.decide_claim(
                claim_id, pay=body.pay, amount=amount, reason=body.reason, actor=actor
            )
        )
        return ClaimOut.model_validate(
            claim_view(decided, service.application(decided.application_pk), service.box)
        )


class InstitutionIn(BaseModel):
    """An institution to register on the platform."""

    name: str = Field(min_length=1, max_length=200)
    appid: str = Field(min_length=1, max_length=32)
    appkey: str = Field(min_length=1, max_length=64)
    appsecret: str = Field(min_length=8, max_length=128)
    public_key: str = Field(description="the institution's SM2 public key, 04… hex or PEM")
    endpoint_url: str = Field(min_length=1, max_length=500)
    per_transcode_paths: bool = False
    profile: dict[str, Any] = Field(default_factory=dict)

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        SM2PublicKey.load(value)
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: dict[str, Any]) -> dict[str, Any]:
        Profile.from_dict(value)
        return value


class SubmitIn(BaseModel):
    """An application to send to an institution: the ELY101 fields by their wire names."""

    institution_id: str
    fields: dict[str, Any]


class ClaimIn(BaseModel):
    """The claim fields the purchaser supplies (the rest come from the guarantee); each is the ELY105 field
    of the same name in camelCase."""

    claim_amount: str
    claim_reason: str
    open_bank: str
    bank_account: str
    contract: str
    contract_way: str
    contract_cert_code: str

    def wire(self) -> dict[str, Any]:
        """The fields by their ELY105 names."""
        return {_camel(name): value for name, value in self.model_dump().items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class InvalidateIn(BaseModel):
    """Invalidate a live guarantee: 0 contract fulfilled, 1 file format error."""

    invalid_type: Literal["0", "1"] = "0"
    remark: str | None = Field(default=None, max_length=1024)


class RefundIn(BaseModel):
    """Why an order is cancelled or a guarantee surrendered."""

    reason: str | None = Field(default=None, max_length=1000)


def _platform_admin(router: APIRouter, service: PlatformService, runtime: RoleRuntime) -> None:
    sessions = runtime.runtime.sessions

    @router.post("/institutions")
    def register(body: InstitutionIn) -> InstitutionOut:
        """Register an institution to send applications to."""
        try:
            peer = runtime.registry.add_counterparty(
                name=body.name,
                role="institution",
                appid=body.appid,
                appkey=body.appkey,
                appsecret=body.appsecret,
                public_key=SM2PublicKey.load(body.public_key),
                endpoint_url=body.endpoint_url,
                per_transcode_paths=body.per_transcode_paths,
                profile=Profile.from_dict(body.profile),
            )
        except ValueError as exc:
            raise AdminError(409, "conflict", str(exc)) from None
        return InstitutionOut(
            id=peer.id, name=peer.name, appid=peer.channel.appid, endpoint_url=peer.endpoint_url
        )

    @router.get("/institutions")
    def institutions(page: Paged) -> Page[InstitutionOut]:
        """The institutions registered, without their secrets."""
        peers = runtime.registry.peers()
        chosen = [
            InstitutionOut(id=p.id, name=p.name, appid=p.channel.appid, endpoint_url=p.endpoint_url)
            for p in peers[page.offset : page.offset + page.limit]
        ]
        return Page[InstitutionOut](items=chosen, total=len(peers), limit=page.limit, offset=page.offset)

    @router.post("/applications", status_code=202)
    def submit(body: SubmitIn, actor: Actor) -> ApplicationOut:
        """Send an application (ELY101) to an institution."""
        try:
            runtime.registry.peer(body.institution_id)
        except KeyError as exc:
            raise AdminError(404, "not_found", str(exc).strip("'")) from None
        return _shown(_operator(lambda: service.submit(body.institution_id, body.fields, actor)))

    @router.post("/applications/{key}/claims", status_code=202)
    def claim(key: str, body: ClaimIn, actor: Actor) -> ClaimOut:
        """Send a claim (ELY105) on a live guarantee."""
        sent = _operator(lambda: service.claim(key, body.wire(), actor))
        return ClaimOut.model_validate(claim_view(sent, service.application(sent.application_pk)))

    @router.get("/applications/{key}/claims")
    def claims(key: str, page: Paged, status: ClaimStatus | None = None) -> Page[ClaimOut]:
        """The claims raised on one guarantee, newest first."""
        app = _operator(lambda: service.application(key))
        found = views.claims(sessions, service.side, Filters(state=status, application=app.id), page)
        return Page[ClaimOut].model_validate(found.plain())

    @router.post("/applications/{key}/invalidate", status_code=202)
    def invalidate(key: str, body: InvalidateIn, actor: Actor) -> ApplicationOut:
        """Invalidate a live guarantee (ELY107)."""
        return _shown(_operator(lambda: service.invalidate(key, body.invalid_type, body.remark, actor)))

    @router.post("/applications/{key}/cancel", status_code=202)
    def cancel(key: str, body: RefundIn, actor: Actor) -> ApplicationOut:
        """Cancel an order not yet issued (ELY109 撤单)."""
        return _shown(
            _operator(lambda: service.refund(key, surrender=False, reason=body.reason, actor=actor))
        )

    @router.post("/applications/{key}/surrender", status_code=202)
    def surrender(key: str, body: RefundIn, actor: Actor) -> ApplicationOut:
        """Give a live guarantee back (ELY109 退保)."""
        return _shown(_operator(lambda: service.refund(key, surrender=True, reason=body.reason, actor=actor)))


def mount(runtime: RoleRuntime, *, prefix: str = DEFAULT_PREFIX, admin_prefix: str = "/admin") -> Mount:
    """What a procurement role serves: its wire under ``prefix``, its admin API under ``admin_prefix``."""
    service = runtime.service
    admin = APIRouter()
    _common_admin(admin, runtime)
    admin.include_router(counterparty_router(runtime.registry))
    if isinstance(service, IssuerService):
        _issuer_admin(admin, service, runtime)
    else:
        _platform_admin(admin, service, runtime)
    wire = ProcurementWire(service, validate_request, service.served, prefix=prefix)
    return Mount(PROTOCOL, runtime.role, wire, admin, admin_prefix)


def create_app(
    runtime: RoleRuntime,
    *,
    admin_token: str | None,
    run_dispatcher: bool = True,
    extra: APIRouter | None = None,
) -> HostedApp:
    """The role's app: protocol endpoints under /zcdservice/v1/lg on the protocol listener; the admin API
    under /admin (operators' bearer tokens; ``admin_token`` is the operator "admin") and ``extra`` routes
    (the sandbox's) on the admin listener."""
    return host_app(
        runtime.runtime, [mount(runtime)], admin_token=admin_token, run_dispatcher=run_dispatcher, extra=extra
    )
