"""The issuer's tender aftercare: invoices, quits (退保), cancellation (注销), claims and give-ups.

:data:`AFTERCARE_HANDLERS` answers the platform's invoiceapply, quitapply, canclenotice, claimsnotice and
giveupapply (merged into the issuer's handler dict); :class:`Aftercare` is what operators do afterwards
(issue or refuse an invoice, decide a quit, stop a claim, give an application up), each writing its
notice to the outbox with the change; :func:`aftercare_jobs` are the outbox jobs that fetch a claim's
documents and pay a claim once due; :func:`aftercare_hooks` are the sender's ``on_answer`` hooks (the
platform's answer to our giveupnotice: a refusal leaves the application as it was, in its history).

A refusal changes nothing and is raised as ``TenderError`` (code 0 with the reason, not remembered), so
the platform may ask again once things changed (the guarantee restored, the amount corrected); only a
refused give-up, which nothing can change, is remembered. An operator's decision that lets the platform
ask again (a refused quit or invoice, a stopped claim) releases that interface's replay record of the
application, since the spec keys those requests by applyno alone. Claims are paid on first demand (见索即付):
the "tender.claim_due" job scheduled at ``now + claim_wait`` pays the claim unless an operator stopped
it, with a stated reason, before it was due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from baohan.adapters import outbox
from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import (
    IdempotencyRecord,
    TenderApplication,
    TenderClaim,
    TenderClaimDocument,
    TenderGiveUp,
    TenderInvoice,
    TenderQuit,
)
from baohan.adapters.documents.invoice import Seller
from baohan.adapters.outbox import OutboxMessage, PermanentFailure
from baohan.domain.tender import Event, TenderRefused
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.protocols.tender.models import ClaimsNotice, InvoiceApply, QuitApply
from baohan.protocols.tender.wire import MESSAGE_MAX, TenderError, format_timestamp
from baohan.services.delivery import Handler as Job
from baohan.services.tender.claim_documents import (
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BYTES,
    DocumentFetcher,
    enqueue_fetches,
)
from baohan.services.tender.invoices import INVOICE_FIELDS, Invoices, invoice_request
from baohan.services.tender.requests import Requests
from baohan.services.tender.roles import Context, Handler, replay_key
from baohan.services.tender.sender import Delivery, OnAnswer
from baohan.services.tender.views import application_view
from baohan.services.views import view

_QUIT = ("id", "status", "reason", "decided_by", "decision_reason", "quit_at", "created_at", "decided_at")
_CLAIM = (
    "id",
    "status",
    "request",
    "amount",
    "due_at",
    "decided_by",
    "decision_reason",
    "created_at",
    "decided_at",
)
_DOCUMENT = ("id", "number", "url", "state", "attempts", "last_error", "fetched_at")
_INVOICE = ("id", "status", "request", "amount", "invoice_code", "invoice_no", "created_at", "decided_at")
_GIVE_UP = ("id", "origin", "status", "message", "created_at", "decided_at")
CLAIM_DUE = "tender.claim_due"
CLAIM_DUE_DEADLINE = timedelta(days=30)  # a payment owed is not given up after the outbox's usual day
ACTOR_CLAIM_DUE = "claim_due"


@dataclass(frozen=True)
class AftercareSettings:
    """The issuer's aftercare settings: the invoice seller's unified social credit code (its name is the
    approved instname), and the claim documents' size cap and how long a fetch is tried."""

    seller_code: str = ""
    document_max_bytes: int = DEFAULT_MAX_BYTES
    document_deadline: timedelta = DEFAULT_DEADLINE

    def __post_init__(self) -> None:
        if self.document_max_bytes < 1:
            raise ValueError("document_max_bytes must be positive")
        if self.document_deadline <= timedelta(0):
            raise ValueError("document_deadline must be positive")


class AftercareConfig(Protocol):
    """What aftercare reads of the issuer's settings (``Context.settings``)."""

    @property
    def public_url(self) -> str:
        """Where the issuer is reached from outside (invoice URLs start with it)."""

    @property
    def claim_wait(self) -> timedelta:
        """How long a claim waits before it is paid on first demand, unless an operator stops it."""

    @property
    def aftercare(self) -> AftercareSettings:
        """The aftercare settings."""


def _config(ctx: Context) -> AftercareConfig:
    config: AftercareConfig = ctx.settings
    return config


def _requests(ctx: Context) -> Requests:
    return Requests(ctx.store)


def _application(ctx: Context, session: Session, inbound: Inbound) -> TenderApplication:
    """The application ``inbound`` names (applyno, and baohanno when it carries one), locked; TenderError
    naming the field otherwise."""
    model = inbound.model
    app = ctx.store.by_applyno(session, ctx.counterparty_id(session, inbound.appkey), model.applyno)
    if app is None:
        raise TenderError(f"applyno: no application {model.applyno}")
    session.refresh(app, with_for_update=True)  # a concurrent operator decision waits for this one
    baohanno = getattr(model, "baohanno", None)
    if baohanno is not None and baohanno != app.baohanno:
        raise TenderError(f"baohanno: {baohanno} is not the guarantee of application {model.applyno}")
    return app


def _refused(exc: ValueError, app: TenderApplication) -> TenderError:
    """The wire's refusal (at most 100 characters) of a lifecycle or field refusal: its reason first."""
    message = str(exc)
    if isinstance(exc, TenderRefused) and "the bid opened" in message and app.kaibiaotime is not None:
        message = (
            f"{message.split(':', 1)[0]}: the bid opened at {format_timestamp(app.kaibiaotime)} (北京时间)"
        )
    elif len(message) > MESSAGE_MAX:
        message = message.split(", and this one is ", 1)[0]
    return TenderError(message[:MESSAGE_MAX])


def _release(session: Session, app: TenderApplication, interface: str) -> None:
    """Let the platform send ``interface`` for ``app`` again: its replay record (keyed by applyno) goes."""
    key = replay_key(app.counterparty_id, interface, app.applyno)
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.protocol == key.protocol,
            IdempotencyRecord.counterparty == key.counterparty,
            IdempotencyRecord.interface == key.interface,
            IdempotencyRecord.key == key.value,
        )
    )


# -- the platform's requests ------------------------------------------------------------------------------


def invoice_apply(ctx: Context, session: Session, inbound: Inbound) -> Answer:
    """invoiceapply: the request is kept (what the invoice prints) once the guarantee was restored; its
    amount must be the premium. An operator then issues or refuses it."""
    app = _application(ctx, session, inbound)
    model: InvoiceApply = inbound.model
    if app.cost is not None and model.amount != app.cost:
        raise TenderError(
            f"amount: {model.amount} is not the premium of guarantee {app.baohanno} ({app.cost})"
        )
    kept = {name: getattr(model, name) for name in INVOICE_FIELDS if getattr(model, name) is not None}
    kept["amount"] = str(model.amount)
    try:
        invoice_request(app, kept)
        _requests(ctx).request_invoice(
            session, app, request=kept, amount=model.amount, now=ctx.clock(), actor=inbound.appkey
        )
    except ValueError as exc:  # TenderRefused included
        raise _refused(exc, app) from None
    return Answer()


def quit_apply(ctx: Context, session: Session, inbound: Inbound) -> Answer:
    """quitapply: waits for an operator's decision; refused once the bid opened (saying when)."""
    app = _application(ctx, session, inbound)
    model: QuitApply = inbound.model
    try:
        _requests(ctx).request_quit(session, app, model.reason, now=ctx.clock(), actor=inbound.appkey)
    except ValueError as exc:  # TenderRefused included
        raise _refused(exc, app) from None
    return Answer()


def cancel_notice(ctx: Context, session: Session, inbound: Inbound) -> Answer:
    """canclenotice: ends an issued guarantee, where the platform's profile uses this interface."""
    if not inbound.channel.profile.uses_cancel:
        raise TenderError("canclenotice: this interface is not used with this platform")
    app = _application(ctx, session, inbound)
    try:
        ctx.store.move(session, app, Event.CANCEL, now=ctx.clock(), actor=inbound.appkey)
    except TenderRefused as exc:
        raise _refused(exc, app) from None
    return Answer()


def claims_notice(ctx: Context, session: Session, inbound: Inbound) -> Answer:
    """claimsnotice: the claim is opened and answered at once; its documents are fetched by outbox jobs,
    and it is paid on first demand once ``claim_wait`` has passed unless an operator stops it."""
    app = _application(ctx, session, inbound)
    model: ClaimsNotice = inbound.model
    if model.payeramount is not None and app.bzj_amount is not None and model.payeramount > app.bzj_amount:
        raise TenderError(
            f"payeramount: {model.payeramount} is more than the guaranteed amount {app.bzj_amount}"
        )
    config = _config(ctx)
    request: dict[str, Any] = {
        name: getattr(model, name)
        for name in ("payeraccount", "applyusername", "applyuserphone", "reason", "filelist")
        if getattr(model, name) is not None
    }
    if model.payeramount is not None:
        request["payeramount"] = str(model.payeramount)
    try:
        claim = _requests(ctx).open_claim(
            session,
            app,
            request=request,
            amount=model.payeramount,
            document_urls=model.file_urls,
            wait=config.claim_wait,
            now=ctx.clock(),
            actor=inbound.appkey,
        )
    except ValueError as exc:  # TenderRefused included
        raise _refused(exc, app) from None
    session.flush()
    enqueue_fetches(
        session, claim, app.counterparty_id, deadline=config.aftercare.document_deadline, now=ctx.clock()
    )
    outbox.enqueue(
        session,
        destination=app.counterparty_id,
        kind=CLAIM_DUE,
        payload={"claim_id": claim.id},
        dedupe_key=f"{CLAIM_DUE}:{claim.id}",
        not_before=claim.due_at,
        deadline=CLAIM_DUE_DEADLINE,
        now=ctx.clock(),
    )
    return Answer()


def give_up_apply(ctx: Context, session: Session, inbound: Inbound) -> Answer:
    """giveupapply: accepted only while nothing is issued or notified; otherwise code 0 with the reason
    (the refusal kept with the application)."""
    app = _application(ctx, session, inbound)
    record = _requests(ctx).give_up_asked(session, app, now=ctx.clock(), actor=inbound.appkey)
    if record.status != "accepted":
        return Answer(False, _refused(TenderRefused(record.message or "give-up refused"), app).message)
    return Answer()


AFTERCARE_HANDLERS: Mapping[str, Handler] = {
    "invoiceapply": invoice_apply,
    "quitapply": quit_apply,
    "canclenotice": cancel_notice,
    "claimsnotice": claims_notice,
    "giveupapply": give_up_apply,
}


# -- what operators do --------------------------------------------------------------------------------------


class Aftercare:
    """Operators' aftercare use cases on the issuer's applications; each returns the application's view."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.requests = Requests(ctx.store)

    def _locked(self, session: Session, application_pk: str) -> TenderApplication:
        app = self.ctx.store.get(session, application_pk)
        session.refresh(app, with_for_update=True)
        return app

    def issue_invoice(self, application_pk: str, *, actor: str) -> dict[str, Any]:
        """Issue the requested invoice (numbered, drawn, kept, served by token) → invoicenotice applystatus 1."""
        config = _config(self.ctx)
        with transaction(self.ctx.sessions) as session:
            app = self._locked(session, application_pk)
            self.requests.requested_invoice(session, app)  # nothing asked for: said so, before who sells
            seller = Seller(app.inst_name or "", config.aftercare.seller_code)
            invoices = Invoices(self.requests, self.ctx.files, seller, config.public_url)
            invoice = invoices.issue(session, app, now=self.ctx.clock(), actor=actor)
            fields = {
                "baohanno": app.baohanno,
                "invoiceurl": invoice.invoice_url,
                "invoicecode": invoice.invoice_code,
                "invoiceno": invoice.invoice_no,
                "applystatus": "1",
            }
            self.ctx.notify(session, app, "invoicenotice", fields)
            return application_view(app)

    def refuse_invoice(self, application_pk: str, reason: str, *, actor: str) -> dict[str, Any]:
        """Refuse the requested invoice with a stated reason → invoicenotice applystatus 0."""
        with transaction(self.ctx.sessions) as session:
            app = self._locked(session, application_pk)
            self.requests.refuse_invoice(session, app, reason, now=self.ctx.clock(), actor=actor)
            _release(session, app, "invoiceapply")
            self.ctx.notify(session, app, "invoicenotice", {"baohanno": app.baohanno, "applystatus": "0"})
            return application_view(app)

    def invoice_file(self, token: str) -> tuple[str, bytes]:
        """The PDF (name, bytes) of the issued invoice whose URL ends in ``token``; LookupError otherwise."""
        config = _config(self.ctx)
        invoices = Invoices(self.requests, self.ctx.files, Seller("-", "-"), config.public_url)
        with self.ctx.sessions() as session:
            return invoices.file(session, token)

    def records(self, application_pk: str) -> dict[str, list[dict[str, Any]]]:
        """What operators see of an application's aftercare, oldest first: its quits, claims (with their
        documents' fetch state), invoices (no token: the URL is the platform's to hand out) and give-ups."""
        with self.ctx.sessions() as session:
            app = self.ctx.store.get(session, application_pk)

            def rows(table: Any, names: tuple[str, ...]) -> list[dict[str, Any]]:
                query = (
                    select(table).where(table.application_pk == app.id).order_by(table.created_at, table.id)
                )
                found: list[Any] = list(session.scalars(query))
                return [view(row, names) for row in found]

            claims = rows(TenderClaim, _CLAIM)
            for claim in claims:
                documents = select(TenderClaimDocument).where(TenderClaimDocument.claim_id == claim["id"])
                claim["documents"] = [
                    view(d, _DOCUMENT)
                    for d in session.scalars(documents.order_by(TenderClaimDocument.number))
                ]
            return {
                "quits": rows(TenderQuit, _QUIT),
                "claims": claims,
                "invoices": rows(TenderInvoice, _INVOICE),
                "give_ups": rows(TenderGiveUp, _GIVE_UP),
            }

    def claim_document(self, document_id: str) -> tuple[str, bytes]:
        """A fetched claim document (its name and bytes); LookupError when it is not fetched (yet)."""
        with self.ctx.sessions() as session:
            document = session.get(TenderClaimDocument, document_id)
            if document is None or document.file_id is None:
                raise LookupError(f"no fetched claim document {document_id}")
            claim = session.get_one(TenderClaim, document.claim_id)
            self.ctx.store.get(session, claim.application_pk)  # this side's: LookupError otherwise
            name = self.ctx.files.info(session, document.file_id).name
            return name, self.ctx.files.get(session, document.file_id)

    def decide_quit(
        self, application_pk: str, *, accept: bool, actor: str, reason: str | None = None
    ) -> dict[str, Any]:
        """Accept the pending quit (only before the bid opens; tuibaotime now) or refuse it with a stated
        reason → quitnotice applystatus 1 or 0."""
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            app = self._locked(session, application_pk)
            self.requests.decide_quit(session, app, accept=accept, now=now, actor=actor, reason=reason)
            if not accept:
                _release(session, app, "quitapply")
            fields: dict[str, Any] = {"applyno": app.applyno, "baohanno": app.baohanno}
            fields |= (
                {"applystatus": "1", "tuibaotime": format_timestamp(now)} if accept else {"applystatus": "0"}
            )
            self.ctx.notify(session, app, "quitnotice", fields)
            return application_view(app)

    def stop_claim(self, application_pk: str, reason: str, *, actor: str) -> dict[str, Any]:
        """Stop the open claim before it is due, with a stated reason: it will not be paid."""
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            app = self._locked(session, application_pk)
            claim = self.requests.open_claim_of(session, app)
            if now >= claim.due_at:
                raise TenderRefused(
                    f"claim stop refused: the claim was due at {format_timestamp(claim.due_at)} "
                    "and is paid on first demand"
                )
            self.requests.stop_claim(session, app, reason, now=now, actor=actor)
            _release(session, app, "claimsnotice")
            return application_view(app)

    def give_up(self, application_pk: str, *, actor: str) -> dict[str, Any]:
        """Our bidder gives the application up → giveupnotice; the platform decides (see giveup_answered)."""
        with transaction(self.ctx.sessions) as session:
            app = self._locked(session, application_pk)
            waiting = session.scalars(
                select(TenderGiveUp).where(
                    TenderGiveUp.application_pk == app.id, TenderGiveUp.status == "pending"
                )
            ).first()
            if waiting is not None:
                raise TenderRefused("give-up refused: one is already waiting for the platform's answer")
            record = self.requests.give_up_sent(session, app, now=self.ctx.clock())
            session.flush()
            self.ctx.notify(
                session,
                app,
                "giveupnotice",
                {"applyno": app.applyno},
                dedupe_key=f"tender.giveupnotice:{record.id}",
            )
            return application_view(app)

    def pay_due_claim(self, claim_id: str) -> bool:
        """Pay ``claim_id`` if it is still open and due (见索即付); False when it was stopped or paid."""
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            claim = session.get(TenderClaim, claim_id)
            if claim is None:
                raise LookupError(f"no tender claim {claim_id}")
            app = self._locked(session, claim.application_pk)
            session.refresh(claim)
            if claim.status != "open":
                return False
            if now < claim.due_at:
                raise NotDue(f"claim {claim_id} is due at {claim.due_at.isoformat()}")
            self.requests.pay_claim(session, app, now=now, actor=ACTOR_CLAIM_DUE)
            return True

    def giveup_answered(self, delivery: Delivery) -> None:
        """The platform answered our giveupnotice: accepted, the application is given up; refused, it stays
        as it was, with the refusal in its history."""
        dedupe = delivery.message.dedupe_key or ""
        record_id = dedupe.removeprefix("tender.giveupnotice:")
        now = self.ctx.clock()
        with transaction(self.ctx.sessions) as session:
            record = session.get(TenderGiveUp, record_id)
            if record is None or record.status != "pending":
                return  # written before this hook, or a redelivery already answered
            app = self._locked(session, record.application_pk)
            actor = delivery.peer.channel.appkey
            try:
                self.requests.give_up_answered(
                    session, record, accepted=delivery.ok, message=delivery.reason, now=now, actor=actor
                )
            except TenderRefused as exc:  # the application moved on meanwhile: keep the answer, say so
                record.status, record.message, record.decided_at = "accepted", str(exc)[:500], now
                detail = {"reason": str(exc)}
                self.ctx.store.note(session, app, "give_up_late", now=now, actor=actor, detail=detail)
                return
            if not delivery.ok:
                detail = {"reason": delivery.reason}
                self.ctx.store.note(session, app, "give_up_refused", now=now, actor=actor, detail=detail)


class NotDue(Exception):
    """A claim_due job run before the claim is due (clocks apart): the outbox tries it again."""


def aftercare_jobs(ctx: Context, http: httpx.Client) -> dict[str, Job]:
    """The outbox jobs of aftercare: "tender.claim_document" and "tender.claim_due"."""
    settings = _config(ctx).aftercare
    aftercare = Aftercare(ctx)

    def claim_due(message: OutboxMessage) -> None:
        try:
            aftercare.pay_due_claim(str(message.payload.get("claim_id", "")))
        except (LookupError, TenderRefused) as exc:
            raise PermanentFailure(str(exc)) from None

    fetcher = DocumentFetcher(ctx.sessions, ctx.files, http, ctx.clock, settings.document_max_bytes)
    return {"tender.claim_document": fetcher, CLAIM_DUE: claim_due}


def aftercare_hooks(ctx: Context) -> dict[str, OnAnswer]:
    """The sender's on_answer hooks aftercare needs: our giveupnotice's answer."""
    return {"giveupnotice": Aftercare(ctx).giveup_answered}
