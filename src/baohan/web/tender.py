"""The tender roles on the web: for each hosted role, its wire (``/tender/<interface>``) and its admin API
(under ``/admin/tender``), following procurement's admin conventions (operators' bearer tokens, pages of
``limit``/``offset``, one error shape). The issuer's protocol listener also serves what bidders reach:
the bidder page and the invoice files.

A project field (biaoduanno, biaoduanname, zbr, zbrorgnum) is never shown in plain text before the bid
opened and the project key arrived (:mod:`baohan.services.tender.views`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from baohan.domain.tender import Stage
from baohan.gm import SM2PublicKey
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.router import DEFAULT_PREFIX, TenderWire
from baohan.services.runtime import HostedRole
from baohan.services.tender import views
from baohan.services.tender.aftercare import Aftercare
from baohan.services.tender.invoices import INVOICE_PATH
from baohan.services.tender.issuer import BIDDER_PATH, IssuerService
from baohan.services.tender.platform import TenderPlatform
from baohan.services.tender.registry import APPSECRET_MAX, APPSECRET_MIN, PROTOCOL
from baohan.services.tender.roles import TenderRoleBase
from baohan.services.views import Period, Window, counterparty_view, plain
from baohan.web.admin import NO_NUL, Page, Time, operator, period, window
from baohan.web.bidder import bidder_router
from baohan.web.counterparties import CounterpartyOut, counterparty_router
from baohan.web.errors import AdminError, error_body
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
    return role.find(key)


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


class CounterpartyIn(BaseModel):
    """A tender counterparty to register: its appkey and appsecret (the platform issues them), its SM2
    public key, where it serves the tender interfaces, and its wire profile."""

    name: str = Field(min_length=1, max_length=200)
    appkey: str = Field(min_length=1, max_length=50, pattern=NO_NUL)
    appsecret: str = Field(min_length=APPSECRET_MIN, max_length=APPSECRET_MAX, pattern=NO_NUL)
    public_key: str = Field(description="SM2 public key: 04‖X‖Y hex, Base64 or PEM")
    endpoint_url: str = Field(min_length=1, max_length=500, description="its prefix, e.g. https://…/tender")
    profile: dict[str, Any] = Field(default_factory=dict, description="PRODUCT.md's tender wire settings")

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        SM2PublicKey.load(value)
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: dict[str, Any]) -> dict[str, Any]:
        TenderProfile.from_dict(value)
        return value


def _registration(router: APIRouter, role: TenderRoleBase, path: str, counterparty_role: str) -> None:
    registry = role.context.registry

    @router.post(path, status_code=201)
    def register(body: CounterpartyIn) -> CounterpartyOut:
        """Register a counterparty to talk tender with (its appkey names it on the wire)."""
        peer = act(
            lambda: registry.add(
                name=body.name,
                role=counterparty_role,
                appkey=body.appkey,
                appsecret=body.appsecret,
                public_key=SM2PublicKey.load(body.public_key),
                endpoint_url=body.endpoint_url,
                profile=body.profile,
            )
        )
        listed = next(item for item in registry.listing() if item.id == peer.id)
        return CounterpartyOut.model_validate(counterparty_view(listed))


Rate = Annotated[Decimal, Field(gt=0, lt=1, max_digits=8, decimal_places=6, description="e.g. 0.0150")]
Amount = Annotated[Decimal, Field(gt=0, max_digits=16, decimal_places=2, description="yuan, e.g. 80000.00")]


class SectionIn(BaseModel):
    """A bid section: its project fields in plain text (sealed with a fresh project key before any leaves
    the platform) and its bid opening."""

    biaoduanno: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    biaoduanname: str = Field(min_length=1, max_length=300, pattern=NO_NUL)
    zbr: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    zbrorgnum: str | None = Field(default=None, max_length=60, pattern=NO_NUL)
    kaibiaotime: datetime = Field(description="ISO 8601 with a zone")
    key_text: Literal["hex", "ascii"] = Field(
        default="hex", description="ascii for institutions that take the project key as 16 ASCII characters"
    )

    @field_validator("kaibiaotime")
    @classmethod
    def _zone(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-12-01T09:30:00+08:00")
        return value


class SectionOut(BaseModel):
    """A bid section created."""

    id: str


class SectionListedOut(BaseModel):
    """A bid section as operators list it."""

    id: str
    biaoduanno: str
    kaibiaotime: Time
    opened_at: Time | None
    created_at: Time


class OpenedOut(BaseModel):
    """A bid section opened now: how many guarantees are being restored."""

    restoring: int


class OfferIn(BaseModel):
    """An institution's offer to a bidder on a bid section."""

    bidder_code: str = Field(min_length=1, max_length=50, pattern=NO_NUL)
    institution_id: str = Field(min_length=1, max_length=36)
    product: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    rate: Rate
    bzj_amount: Amount


class QuoteOut(BaseModel):
    """One offer: the institution, its product, rate and premium, and whether the bidder chose it."""

    id: str
    counterparty_id: str
    institution: str
    product: str
    rate: str
    premium: str
    chosen: bool


class SubmitIn(BaseModel):
    """The bidder applies with the offer they chose; the application is sealed for their certificate."""

    section_id: str = Field(min_length=1, max_length=36)
    quote_id: str = Field(min_length=1, max_length=36)
    bidder_name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    bidder_code: str = Field(min_length=1, max_length=50, pattern=NO_NUL)
    bzj_amount: Amount
    certificate: str = Field(min_length=1, max_length=20000, description="the bidder's SM2 certificate, PEM")


class RedirectOut(BaseModel):
    """Where the bidder goes to open the application (the institution's answer), once it answered."""

    redirecturl: str | None


class QuitIn(BaseModel):
    """Why the guarantee should be taken back."""

    reason: str = Field(min_length=1, max_length=500, pattern=NO_NUL)


class ClaimIn(BaseModel):
    """A claim for the tenderer: who asks, and optionally the account, the amount, the reason and the
    documents (each by URL the institution fetches)."""

    applyusername: str = Field(min_length=1, max_length=50, pattern=NO_NUL)
    applyuserphone: str = Field(min_length=1, max_length=20, pattern=NO_NUL)
    payeraccount: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    payeramount: Amount | None = None
    reason: str | None = Field(default=None, max_length=500, pattern=NO_NUL)
    file_urls: list[str] = Field(default_factory=list, max_length=20)


class InvoiceIn(BaseModel):
    """The invoice the bidder asks for: type 0 (普票) or 1 (专票, which needs address, phone, bank and
    account)."""

    type: Literal["0", "1"]
    address: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    phone: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    bank: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    account: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    email: str | None = Field(default=None, max_length=100, pattern=NO_NUL)
    mobile: str | None = Field(default=None, max_length=20, pattern=NO_NUL)
    contactname: str | None = Field(default=None, max_length=50, pattern=NO_NUL)
    contactaddress: str | None = Field(default=None, max_length=200, pattern=NO_NUL)


class GiveUpOut(BaseModel):
    """The give-up sent; the institution decides."""

    id: str


def _quote(quote: Any) -> QuoteOut:
    return QuoteOut(
        id=quote.id,
        counterparty_id=quote.counterparty_id,
        institution=quote.institution,
        product=quote.product,
        rate=str(quote.rate),
        premium=str(quote.premium),
        chosen=quote.chosen,
    )


def platform_admin(router: APIRouter, platform: TenderPlatform) -> None:
    """The platform's operator routes: bid sections and offers, the bidder's submission, and the requests
    to institutions (quit, cancel, claim, give up, invoice)."""
    _registration(router, platform, "/institutions", "institution")

    @router.post("/sections", status_code=201)
    def add_section(body: SectionIn) -> SectionOut:
        """A bid section with a fresh project key; its fields never leave the platform in plain text
        before the bid opens."""
        fields = body.model_dump(include={"biaoduanno", "biaoduanname", "zbr", "zbrorgnum"})
        return SectionOut(
            id=act(lambda: platform.add_section(fields, body.kaibiaotime, key_text=body.key_text))
        )

    @router.get("/sections")
    def sections(page: Paged) -> Page[SectionListedOut]:
        """The bid sections, by bid opening: number, opening time, whether opened (fields stay sealed)."""
        found = platform.sections_list()
        return Page[SectionListedOut](
            items=[
                SectionListedOut.model_validate({k: plain(v) for k, v in row.items()})
                for row in found[page.offset : page.offset + page.limit]
            ],
            total=len(found),
            limit=page.limit,
            offset=page.offset,
        )

    @router.post("/sections/{section_id}/open")
    def open_section(section_id: str) -> OpenedOut:
        """Open the bid section now: baohanrestore goes out for every issued guarantee of it."""
        return OpenedOut(restoring=act(lambda: platform.open_section_now(section_id)))

    @router.post("/sections/{section_id}/quotes", status_code=201)
    def offer(section_id: str, body: OfferIn) -> QuoteOut:
        """Record an institution's offer to a bidder (premium = rate × bid bond)."""
        return _quote(
            act(
                lambda: platform.offer(
                    section_id,
                    body.bidder_code,
                    body.institution_id,
                    body.product,
                    body.rate,
                    body.bzj_amount,
                )
            )
        )

    @router.get("/sections/{section_id}/quotes")
    def quotes(
        section_id: str, bidder_code: Annotated[str, Query(min_length=1, max_length=50, pattern=NO_NUL)]
    ) -> list[QuoteOut]:
        """The offers to a bidder on the section, cheapest first: product, rate, premium."""
        return [_quote(q) for q in act(lambda: platform.quotes(section_id, bidder_code))]

    @router.post("/applications", status_code=202)
    def submit(body: SubmitIn) -> TenderApplicationOut:
        """The bidder applies with the offer chosen: baohanapply goes to that institution."""
        return shown(
            act(
                lambda: platform.submit(
                    body.section_id,
                    body.quote_id,
                    bidder_name=body.bidder_name,
                    bidder_code=body.bidder_code,
                    bzj_amount=body.bzj_amount,
                    certificate_pem=body.certificate,
                )
            )
        )

    @router.get("/applications/{key}/redirect")
    def redirect(key: str) -> RedirectOut:
        """Where the bidder opens the application (the institution's redirecturl), once it answered."""
        app = act(lambda: find(platform, key))
        return RedirectOut(redirecturl=act(lambda: platform.redirect_url(app.id)))

    @router.post("/applications/{key}/quit", status_code=202)
    def quit_(key: str, body: QuitIn, actor: Actor) -> TenderApplicationOut:
        """Ask the institution to take the guarantee back (quitapply), before the bid opens."""
        app = act(lambda: find(platform, key))
        act(lambda: platform.quit(app.id, body.reason, actor=actor))
        return shown(find(platform, app.id))

    @router.post("/applications/{key}/cancel", status_code=202)
    def cancel(key: str, actor: Actor) -> TenderApplicationOut:
        """Cancel the guarantee (canclenotice), if the institution takes cancellations."""
        app = act(lambda: find(platform, key))
        act(lambda: platform.cancel(app.id, actor=actor))
        return shown(find(platform, app.id))

    @router.post("/applications/{key}/claims", status_code=202)
    def claim(key: str, body: ClaimIn, actor: Actor) -> TenderApplicationOut:
        """Claim on the guarantee (claimsnotice), its documents listed by URL."""
        app = act(lambda: find(platform, key))
        act(lambda: platform.claim(app.id, **body.model_dump(), actor=actor))
        return shown(find(platform, app.id))

    @router.post("/applications/{key}/giveup", status_code=202)
    def give_up(key: str, actor: Actor) -> GiveUpOut:
        """The bidder gives the application up (giveupapply); the institution decides."""
        app = act(lambda: find(platform, key))
        return GiveUpOut(id=act(lambda: platform.give_up(app.id, actor=actor)))

    @router.post("/applications/{key}/invoice", status_code=202)
    def invoice(key: str, body: InvoiceIn, actor: Actor) -> TenderApplicationOut:
        """Ask for the premium's invoice (invoiceapply)."""
        app = act(lambda: find(platform, key))
        details = {k: v for k, v in body.model_dump().items() if v is not None}
        act(lambda: platform.invoice(app.id, details, actor=actor))
        return shown(find(platform, app.id))


class ApproveIn(BaseModel):
    """Underwrite: the rate, and optionally the premium (else rate × bid bond) and the guarantee number."""

    rate: Rate
    cost: Amount | None = None
    baohanno: str | None = Field(default=None, min_length=1, max_length=50, pattern=NO_NUL)


class RejectIn(BaseModel):
    """Why the application is declined (kept in its history)."""

    reason: str | None = Field(default=None, max_length=255, pattern=NO_NUL)


class PaymentIn(BaseModel):
    """The premium paid; the payer's name and account when paid from the bidder's basic account."""

    amount: Amount
    payer_name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    payer_account: str | None = Field(default=None, max_length=50, pattern=NO_NUL)


def issuer_admin(router: APIRouter, issuer: IssuerService) -> None:
    """The issuer's operator routes: underwrite, record the payment, issue the sealed guarantee."""
    _registration(router, issuer, "/platforms", "platform")

    def by_key(key: str) -> str:
        return str(act(lambda: find(issuer, key)).id)

    @router.post("/applications/{key}/approve")
    def approve(key: str, body: ApproveIn, actor: Actor) -> TenderApplicationOut:
        """Underwrite (baohannotice applystatus 1 with the guarantee number, rate and premium)."""
        pk = by_key(key)
        return shown(
            act(
                lambda: issuer.approve(
                    pk, rate=body.rate, cost=body.cost, baohanno=body.baohanno, actor=actor
                )
            )
        )

    @router.post("/applications/{key}/reject")
    def reject(key: str, body: RejectIn, actor: Actor) -> TenderApplicationOut:
        """Decline to underwrite (baohannotice applystatus 0)."""
        pk = by_key(key)
        return shown(act(lambda: issuer.reject(pk, reason=body.reason, actor=actor)))

    @router.post("/applications/{key}/payments")
    def pay(key: str, body: PaymentIn, actor: Actor) -> TenderApplicationOut:
        """Record the premium paid."""
        pk = by_key(key)
        return shown(
            act(
                lambda: issuer.record_payment(
                    pk,
                    amount=body.amount,
                    payer_name=body.payer_name,
                    payer_account=body.payer_account,
                    actor=actor,
                )
            )
        )

    @router.post("/applications/{key}/issue", status_code=202)
    def issue(key: str, actor: Actor) -> TenderApplicationOut:
        """Issue the sealed guarantee: made, sealed and uploaded in slices, then announced complete."""
        pk = by_key(key)
        return shown(act(lambda: issuer.issue(pk, actor=actor)))

    @router.get("/applications/{key}/redirect")
    def redirect(key: str) -> RedirectOut:
        """The bidder's page of the application (what baohanapply answered)."""
        pk = by_key(key)
        return RedirectOut(redirecturl=act(lambda: issuer.redirect_url(pk)))


class ReasonIn(BaseModel):
    """A stated reason (kept in the history; sent where the spec has a field for it)."""

    reason: str = Field(min_length=1, max_length=255, pattern=NO_NUL)


class AftercareOut(BaseModel):
    """What happened to an issued guarantee after issue, each list oldest first."""

    quits: list[dict[str, Any]]
    claims: list[dict[str, Any]] = Field(description="each with its documents and their fetch state")
    invoices: list[dict[str, Any]]
    give_ups: list[dict[str, Any]]


class QuitDecisionIn(BaseModel):
    """Accept the quit (退保, before the bid opens) or refuse it with a reason."""

    accept: bool
    reason: str | None = Field(default=None, max_length=255, pattern=NO_NUL)


def aftercare_admin(router: APIRouter, issuer: IssuerService) -> None:
    """The issuer's operator routes after issue: invoices, quits, claims, giving up."""
    aftercare = Aftercare(issuer.context)

    def by_key(key: str) -> str:
        return str(act(lambda: find(issuer, key)).id)

    def answer(view: dict[str, Any]) -> TenderApplicationOut:
        return TenderApplicationOut.model_validate(view)

    @router.get("/applications/{key}/aftercare")
    def records(key: str) -> AftercareOut:
        """The application's quits, claims (with their documents' fetch state), invoices and give-ups,
        oldest first."""
        pk = by_key(key)
        return AftercareOut.model_validate(act(lambda: aftercare.records(pk)))

    @router.get(
        "/claim-documents/{document_id}",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
        },
    )
    def claim_document(document_id: str) -> Response:
        """A claim's document, as fetched from the URL the claim listed."""
        name, content = act(lambda: aftercare.claim_document(document_id))
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )

    @router.post("/applications/{key}/invoice")
    def issue_invoice(key: str, actor: Actor) -> TenderApplicationOut:
        """Issue the invoice asked for (invoiceapply): numbered, drawn, served by an unguessable link
        (invoicenotice applystatus 1)."""
        pk = by_key(key)
        return answer(act(lambda: aftercare.issue_invoice(pk, actor=actor)))

    @router.post("/applications/{key}/invoice/refusal")
    def refuse_invoice(key: str, body: ReasonIn, actor: Actor) -> TenderApplicationOut:
        """Refuse the invoice asked for, with a reason (invoicenotice applystatus 0)."""
        pk = by_key(key)
        return answer(act(lambda: aftercare.refuse_invoice(pk, body.reason, actor=actor)))

    @router.post("/applications/{key}/quit/decision")
    def decide_quit(key: str, body: QuitDecisionIn, actor: Actor) -> TenderApplicationOut:
        """Decide the quit asked for (quitnotice: 1 with tuibaotime, or 0)."""
        pk = by_key(key)
        return answer(
            act(lambda: aftercare.decide_quit(pk, accept=body.accept, reason=body.reason, actor=actor))
        )

    @router.post("/applications/{key}/claim/stop")
    def stop_claim(key: str, body: ReasonIn, actor: Actor) -> TenderApplicationOut:
        """Stop the open claim before it is due, with a reason; unstopped, it is paid on first demand."""
        pk = by_key(key)
        return answer(act(lambda: aftercare.stop_claim(pk, body.reason, actor=actor)))

    @router.post("/applications/{key}/giveup", status_code=202)
    def give_up(key: str, actor: Actor) -> TenderApplicationOut:
        """Give the application up (giveupnotice); the platform may refuse, and then nothing changes."""
        pk = by_key(key)
        return answer(act(lambda: aftercare.give_up(pk, actor=actor)))


def issuer_public(issuer: IssuerService) -> APIRouter:
    """What bidders and platforms reach on the issuer's protocol listener: the bidder page over the
    issuer's desk, and the invoices at the ``invoiceurl`` invoicenotice gave."""
    router = APIRouter()
    router.include_router(bidder_router(issuer.desk, prefix=BIDDER_PATH.rstrip("/")))
    aftercare = Aftercare(issuer.context)

    @router.get(INVOICE_PATH + "{token}", include_in_schema=False)
    def invoice(token: str) -> Response:
        try:
            name, content = aftercare.invoice_file(token)
        except LookupError:
            return JSONResponse(error_body(404, "no invoice behind this link"), 404)
        return Response(
            content,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    return router


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


def platform_mount(
    hosted: HostedRole, *, prefix: str = DEFAULT_PREFIX, admin_prefix: str = ADMIN_PREFIX
) -> Mount:
    """The tender platform's wire and admin API."""
    return mount(hosted, prefix=prefix, admin_prefix=admin_prefix, admin=platform_admin)


def issuer_mount(
    hosted: HostedRole, *, prefix: str = DEFAULT_PREFIX, admin_prefix: str = ADMIN_PREFIX
) -> Mount:
    """The tender issuer's wire and admin API, and the bidder page on its protocol listener."""
    issuer = hosted.service
    if not isinstance(issuer, IssuerService):
        raise TypeError(f"{PROTOCOL}:{hosted.role} is not the tender issuer")

    def admin(router: APIRouter, role: IssuerService) -> None:
        issuer_admin(router, role)
        aftercare_admin(router, role)

    return mount(hosted, prefix=prefix, admin_prefix=admin_prefix, admin=admin, public=issuer_public(issuer))


def role_mount(hosted: HostedRole) -> Mount:
    """The mount of a hosted tender role, issuer or platform."""
    return issuer_mount(hosted) if hosted.role == "issuer" else platform_mount(hosted)
