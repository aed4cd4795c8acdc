"""FastAPI apps for the procurement roles: the protocol endpoints plus a JSON admin API for operators."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from baohan.gm import SM2PublicKey
from baohan.protocols.fields import MessageInvalid
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.router import DEFAULT_PREFIX, ProcurementWire
from baohan.protocols.profile import Profile
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.platform import PlatformService
from baohan.services.procurement.registry import PROTOCOL
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import RoleRuntime
from baohan.services.procurement.views import application_view, claim_view, event_view, refund_view
from baohan.web.counterparties import counterparty_router
from baohan.web.host import HostedApp, Mount, host_app


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
        raise HTTPException(404 if message.startswith("no ") else 409, detail=message) from None


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


def _common_admin(router: APIRouter, runtime: RoleRuntime) -> None:
    service = runtime.service

    @router.post("/pause")
    def pause(body: PauseIn) -> dict[str, bool]:
        service.pause(body.paused)
        return {"paused": body.paused}

    @router.get("/applications")
    def applications(stage: str | None = None) -> list[dict[str, Any]]:
        return [application_view(a) for a in service.applications(stage)]

    @router.get("/applications/{key}")
    def application(key: str) -> dict[str, Any]:
        return application_view(_operator(lambda: service.application(key)))

    @router.get("/applications/{key}/history")
    def history(key: str) -> list[dict[str, Any]]:
        return [event_view(e) for e in _operator(lambda: service.history(key))]

    @router.get("/applications/{key}/file")
    def file(key: str) -> Response:
        name, content = _operator(lambda: service.file(key))
        return Response(
            content,
            media_type="application/pdf",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(name)}"},
        )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


def _issuer_admin(router: APIRouter, service: IssuerService) -> None:
    @router.post("/applications/{key}/approve")
    def approve(key: str) -> dict[str, Any]:
        return application_view(_operator(lambda: service.approve(service.application(key).id, "admin-api")))

    @router.post("/applications/{key}/reject")
    def reject(key: str, body: ReasonIn) -> dict[str, Any]:
        return application_view(
            _operator(lambda: service.reject(service.application(key).id, body.reason, "admin-api"))
        )

    @router.post("/applications/{key}/payments")
    def pay(key: str, body: PaymentIn) -> dict[str, Any]:
        return application_view(
            _operator(
                lambda: service.record_payment(
                    service.application(key).id, _money(body.amount), body.paid_at, body.pay_type, "admin-api"
                )
            )
        )

    @router.post("/applications/{key}/issue")
    def issue(key: str) -> dict[str, Any]:
        return application_view(_operator(lambda: service.issue(service.application(key).id, "admin-api")))

    @router.get("/claims")
    def claims(status: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
        return [claim_view(c) for c in service.claims(status)]

    @router.get("/refunds")
    def refunds(status: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
        return [refund_view(r) for r in service.refund_requests(status)]

    @router.post("/refunds/{request_id}/decision")
    def decide_refund(request_id: str, body: RefundDecisionIn) -> dict[str, Any]:
        return refund_view(
            _operator(
                lambda: service.decide_refund(
                    request_id, accept=body.accept, reason=body.reason, actor="admin-api"
                )
            )
        )

    @router.post("/claims/{claim_id}/decision")
    def decide(claim_id: str, body: ClaimDecisionIn) -> dict[str, Any]:
        amount = _money(body.amount) if body.amount is not None else None
        return claim_view(
            _operator(
                lambda: service.decide_claim(
                    claim_id, pay=body.pay, amount=amount, reason=body.reason, actor="admin-api"
                )
            )
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
    """The claim fields the purchaser supplies (the rest come from the guarantee)."""

    claimAmount: str
    claimReason: str
    openBank: str
    bankAccount: str
    contract: str
    contractWay: str
    contractCertCode: str


class InvalidateIn(BaseModel):
    """Invalidate a live guarantee: 0 contract fulfilled, 1 file format error."""

    invalid_type: Literal["0", "1"] = "0"
    remark: str | None = Field(default=None, max_length=1024)


class RefundIn(BaseModel):
    """Why an order is cancelled or a guarantee surrendered."""

    reason: str | None = Field(default=None, max_length=1000)


def _platform_admin(router: APIRouter, service: PlatformService, runtime: RoleRuntime) -> None:
    @router.post("/institutions")
    def register(body: InstitutionIn) -> dict[str, str]:
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
            raise HTTPException(409, detail=str(exc)) from None
        return {"id": peer.id, "name": peer.name, "appid": peer.channel.appid}

    @router.get("/institutions")
    def institutions() -> list[dict[str, Any]]:
        return [
            {"id": p.id, "name": p.name, "appid": p.channel.appid, "endpoint_url": p.endpoint_url}
            for p in runtime.registry.peers()
        ]

    @router.post("/applications", status_code=202)
    def submit(body: SubmitIn) -> dict[str, Any]:
        try:
            runtime.registry.peer(body.institution_id)
        except KeyError as exc:
            raise HTTPException(404, detail=str(exc).strip("'")) from None
        return application_view(
            _operator(lambda: service.submit(body.institution_id, body.fields, "admin-api"))
        )

    @router.post("/applications/{key}/claims", status_code=202)
    def claim(key: str, body: ClaimIn) -> dict[str, Any]:
        return claim_view(_operator(lambda: service.claim(key, body.model_dump(), "admin-api")))

    @router.get("/applications/{key}/claims")
    def claims(key: str) -> list[dict[str, Any]]:
        return [claim_view(c) for c in _operator(lambda: service.claims_of(key))]

    @router.post("/applications/{key}/invalidate", status_code=202)
    def invalidate(key: str, body: InvalidateIn) -> dict[str, Any]:
        return application_view(
            _operator(lambda: service.invalidate(key, body.invalid_type, body.remark, "admin-api"))
        )

    @router.post("/applications/{key}/cancel", status_code=202)
    def cancel(key: str, body: RefundIn) -> dict[str, Any]:
        return application_view(
            _operator(lambda: service.refund(key, surrender=False, reason=body.reason, actor="admin-api"))
        )

    @router.post("/applications/{key}/surrender", status_code=202)
    def surrender(key: str, body: RefundIn) -> dict[str, Any]:
        return application_view(
            _operator(lambda: service.refund(key, surrender=True, reason=body.reason, actor="admin-api"))
        )


def mount(runtime: RoleRuntime, *, prefix: str = DEFAULT_PREFIX, admin_prefix: str = "/admin") -> Mount:
    """What a procurement role serves: its wire under ``prefix``, its admin API under ``admin_prefix``."""
    service = runtime.service
    admin = APIRouter()
    _common_admin(admin, runtime)
    admin.include_router(counterparty_router(runtime.registry))
    if isinstance(service, IssuerService):
        _issuer_admin(admin, service)
    else:
        _platform_admin(admin, service, runtime)
    wire = ProcurementWire(service, validate_request, service.served, prefix=prefix)
    return Mount(PROTOCOL, runtime.role, wire, admin, admin_prefix)


def create_app(
    runtime: RoleRuntime, *, admin_token: str, run_dispatcher: bool = True, extra: APIRouter | None = None
) -> HostedApp:
    """The role's app: protocol endpoints under /zcdservice/v1/lg and ``extra`` routes (the sandbox's) on
    the protocol listener, the admin API under /admin (bearer token) on the admin listener."""
    return host_app(
        runtime.runtime, [mount(runtime)], admin_token=admin_token, run_dispatcher=run_dispatcher, extra=extra
    )
