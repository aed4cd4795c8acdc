"""What happens beside the main line of a tender guarantee, each kept with its decision: quits (退保),
claims and their documents, give-ups from either side, and invoices.

Each step moves the application through the lifecycle (refused there, nothing is written) and keeps its
own record in the same session, so the caller's transaction holds both and the notice they cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import (
    TenderApplication,
    TenderClaim,
    TenderClaimDocument,
    TenderGiveUp,
    TenderInvoice,
    TenderQuit,
)
from baohan.domain.ids import new_id
from baohan.domain.tender import Event, TenderRefused, check_money
from baohan.services.tender.store import Applications, lifecycle_state

URL_MAX = 1000
REASON_MAX = 500


def _reason(name: str, reason: str | None) -> str:
    if not reason or not reason.strip():
        raise ValueError(f"{name}: a reason is required")
    if len(reason) > REASON_MAX:
        raise ValueError(f"{name}: at most {REASON_MAX} characters")
    return reason.strip()


class Requests:
    """Quits, claims, give-ups and invoices of one side's applications."""

    def __init__(self, applications: Applications) -> None:
        self.applications = applications

    # -- quits ----------------------------------------------------------------------------------------------

    def request_quit(
        self, session: Session, app: TenderApplication, reason: str, *, now: datetime, actor: str
    ) -> TenderQuit:
        """A quit asked (quitapply): only before the bid opens; it waits for a decision."""
        text = _reason("reason", reason)
        self.applications.move(session, app, Event.REQUEST_QUIT, now=now, actor=actor, reason=text)
        quit_request = TenderQuit(
            id=new_id(), application_pk=app.id, reason=text, status="pending", created_at=now
        )
        session.add(quit_request)
        return quit_request

    def pending_quit(self, session: Session, app: TenderApplication) -> TenderQuit | None:
        """The quit of ``app`` waiting for a decision, or None."""
        return session.scalars(
            select(TenderQuit).where(TenderQuit.application_pk == app.id, TenderQuit.status == "pending")
        ).first()

    def decide_quit(
        self,
        session: Session,
        app: TenderApplication,
        *,
        accept: bool,
        now: datetime,
        actor: str,
        reason: str | None = None,
    ) -> TenderQuit:
        """Accept the pending quit (tuibaotime = ``now``; only before the bid opens) or refuse it with a
        stated ``reason`` (the guarantee goes back to where it stood)."""
        quit_request = self.pending_quit(session, app)
        if quit_request is None:
            raise LookupError(f"application {app.applyno} has no quit waiting for a decision")
        if accept:
            self.applications.move(session, app, Event.ACCEPT_QUIT, now=now, actor=actor, reason=reason)
            quit_request.status, quit_request.quit_at, app.quit_at = "accepted", now, now
        else:
            text = _reason("reason", reason)
            self.applications.move(session, app, Event.REFUSE_QUIT, now=now, actor=actor, reason=text)
            quit_request.status = "refused"
        quit_request.decided_by, quit_request.decided_at = actor, now
        quit_request.decision_reason = reason
        return quit_request

    # -- claims ---------------------------------------------------------------------------------------------

    def open_claim(
        self,
        session: Session,
        app: TenderApplication,
        *,
        request: dict[str, Any],
        amount: Decimal | None,
        document_urls: Sequence[str],
        wait: timedelta,
        now: datetime,
        actor: str,
    ) -> TenderClaim:
        """A claim arrived (claimsnotice): paid on first demand once ``wait`` has passed, unless stopped; its
        documents wait to be fetched."""
        if amount is not None:
            check_money("payeramount", amount)
        for url in document_urls:
            if not url.startswith(("http://", "https://")) or len(url) > URL_MAX:
                raise ValueError(
                    f"filelist: {url[:80]!r} is not an http(s) URL of at most {URL_MAX} characters"
                )
        self.applications.move(session, app, Event.OPEN_CLAIM, now=now, actor=actor)
        claim = TenderClaim(
            id=new_id(),
            application_pk=app.id,
            status="open",
            request=dict(request),
            amount=amount,
            due_at=now + wait,
            created_at=now,
        )
        session.add(claim)
        session.flush()
        for number, url in enumerate(document_urls, start=1):
            session.add(
                TenderClaimDocument(
                    id=new_id(), claim_id=claim.id, number=number, url=url, state="pending", attempts=0
                )
            )
        return claim

    def open_claim_of(self, session: Session, app: TenderApplication) -> TenderClaim:
        """The open claim of ``app``; LookupError when there is none."""
        claim = session.scalars(
            select(TenderClaim).where(TenderClaim.application_pk == app.id, TenderClaim.status == "open")
        ).first()
        if claim is None:
            raise LookupError(f"application {app.applyno} has no open claim")
        return claim

    def due_claims(self, session: Session, now: datetime, limit: int = 100) -> list[TenderClaim]:
        """Open claims whose wait has passed: to be paid now, earliest first."""
        return list(
            session.scalars(
                select(TenderClaim)
                .where(TenderClaim.status == "open", TenderClaim.due_at <= now)
                .order_by(TenderClaim.due_at, TenderClaim.id)
                .limit(limit)
            )
        )

    def pay_claim(
        self, session: Session, app: TenderApplication, *, now: datetime, actor: str
    ) -> TenderClaim:
        """Pay the open claim (见索即付): the guarantee is spent."""
        claim = self.open_claim_of(session, app)
        self.applications.move(session, app, Event.PAY_CLAIM, now=now, actor=actor)
        claim.status, claim.decided_by, claim.decided_at = "paid", actor, now
        return claim

    def stop_claim(
        self, session: Session, app: TenderApplication, reason: str, *, now: datetime, actor: str
    ) -> TenderClaim:
        """An operator stops the open claim with a stated reason; the guarantee goes back to where it stood."""
        claim = self.open_claim_of(session, app)
        text = _reason("reason", reason)
        self.applications.move(session, app, Event.STOP_CLAIM, now=now, actor=actor, reason=text)
        claim.status, claim.decided_by, claim.decided_at, claim.decision_reason = "stopped", actor, now, text
        return claim

    def documents_to_fetch(self, session: Session, limit: int = 20) -> list[TenderClaimDocument]:
        """Claim documents not fetched yet (a failed fetch is tried again), fewest attempts first."""
        return list(
            session.scalars(
                select(TenderClaimDocument)
                .where(TenderClaimDocument.state != "fetched")
                .order_by(TenderClaimDocument.attempts, TenderClaimDocument.id)
                .limit(limit)
            )
        )

    @staticmethod
    def fetched(document: TenderClaimDocument, file_id: str, *, now: datetime) -> None:
        """The document was fetched and is kept as ``file_id``."""
        document.attempts += 1
        document.state, document.file_id, document.fetched_at, document.last_error = (
            "fetched",
            file_id,
            now,
            None,
        )

    @staticmethod
    def fetch_failed(document: TenderClaimDocument, error: str) -> None:
        """A fetch failed; it is tried again later."""
        document.attempts += 1
        document.state, document.last_error = "failed", error[:255]

    # -- give-ups -------------------------------------------------------------------------------------------

    def give_up_asked(
        self, session: Session, app: TenderApplication, *, now: datetime, actor: str
    ) -> TenderGiveUp:
        """The other side asks to give up (giveupapply to the issuer, giveupnotice to the platform), decided
        at once by the lifecycle: accepted only while nothing is issued or notified (the platform: not yet
        confirmed to the bidder); a refusal is kept with its reason and the application is unchanged."""
        other = "platform" if self.applications.side == "issuer" else "issuer"
        record = TenderGiveUp(
            id=new_id(), application_pk=app.id, origin=other, created_at=now, decided_at=now
        )
        try:
            self.applications.move(session, app, Event.GIVE_UP, now=now, actor=actor)
        except TenderRefused as exc:  # (refused before anything changed)
            record.status, record.message = "refused", str(exc)[:REASON_MAX]
        else:
            record.status = "accepted"
        session.add(record)
        return record

    def give_up_sent(self, session: Session, app: TenderApplication, *, now: datetime) -> TenderGiveUp:
        """The bidder gave up on our side: the notice (giveupnotice, or the platform's giveupapply) goes to the
        other side, which decides; refused here already when our own lifecycle would refuse it."""
        self.applications.machine.target(
            lifecycle_state(app).stage, Event.GIVE_UP
        )  # refused as the move would be
        record = TenderGiveUp(
            id=new_id(),
            application_pk=app.id,
            origin=self.applications.side,
            status="pending",
            created_at=now,
        )
        session.add(record)
        return record

    def give_up_answered(
        self,
        session: Session,
        record: TenderGiveUp,
        *,
        accepted: bool,
        message: str | None,
        now: datetime,
        actor: str,
    ) -> TenderApplication:
        """The other side answered our give-up: accepted, the application is given up; refused, it stays as
        it was (the refusal's message kept)."""
        if record.status != "pending":
            raise ValueError(f"give-up {record.id} was already {record.status}")
        app = self.applications.get(session, record.application_pk)
        if accepted:
            self.applications.move(session, app, Event.GIVE_UP, now=now, actor=actor)
        record.status = "accepted" if accepted else "refused"
        record.message, record.decided_at = (message or None) and message[:REASON_MAX], now
        return app

    # -- invoices -------------------------------------------------------------------------------------------

    def request_invoice(
        self,
        session: Session,
        app: TenderApplication,
        *,
        request: dict[str, Any],
        amount: Decimal,
        now: datetime,
        actor: str,
    ) -> TenderInvoice:
        """An invoice asked (invoiceapply), once the guarantee was restored."""
        check_money("amount", amount)
        self.applications.move(session, app, Event.REQUEST_INVOICE, now=now, actor=actor)
        invoice = TenderInvoice(
            id=new_id(),
            application_pk=app.id,
            status="requested",
            request=dict(request),
            amount=amount,
            created_at=now,
        )
        session.add(invoice)
        return invoice

    def requested_invoice(self, session: Session, app: TenderApplication) -> TenderInvoice:
        """The invoice of ``app`` waiting to be issued or refused; LookupError when there is none."""
        invoice = session.scalars(
            select(TenderInvoice).where(
                TenderInvoice.application_pk == app.id, TenderInvoice.status == "requested"
            )
        ).first()
        if invoice is None:
            raise LookupError(f"application {app.applyno} has no invoice requested")
        return invoice

    def issue_invoice(
        self,
        session: Session,
        app: TenderApplication,
        *,
        url: str,
        code: str | None,
        number: str | None,
        file_id: str | None,
        now: datetime,
        actor: str,
    ) -> TenderInvoice:
        """The invoice was issued (invoicenotice applystatus 1), served at ``url``."""
        if not url.startswith(("http://", "https://")) or len(url) > URL_MAX:
            raise ValueError(f"invoiceurl: must be an http(s) URL of at most {URL_MAX} characters")
        invoice = self.requested_invoice(session, app)
        self.applications.move(session, app, Event.ISSUE_INVOICE, now=now, actor=actor)
        invoice.status, invoice.invoice_url, invoice.invoice_code, invoice.invoice_no = (
            "issued",
            url,
            code,
            number,
        )
        invoice.file_id, invoice.decided_at = file_id, now
        return invoice

    def refuse_invoice(
        self, session: Session, app: TenderApplication, reason: str, *, now: datetime, actor: str
    ) -> TenderInvoice:
        """The invoice cannot be issued (invoicenotice applystatus 0); another may be asked later."""
        invoice = self.requested_invoice(session, app)
        text = _reason("reason", reason)
        self.applications.move(session, app, Event.REFUSE_INVOICE, now=now, actor=actor, reason=text)
        invoice.status, invoice.decided_at = "refused", now
        return invoice
