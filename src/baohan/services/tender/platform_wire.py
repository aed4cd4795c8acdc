"""The platform's handlers of what institutions send it, registered by interface: the decision
(baohannotice), our public key, the guarantee files' slices and completions, invoices, quits and give-ups.

Each runs in the role's transaction with the replay record. A refusal the institution cannot change by
trying again (the lifecycle forbids it) is answered ``Answer(False, …)`` and remembered; one it may
correct (a wrong key, a missing slice) is raised and leaves nothing behind.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import Counterparty, TenderApplication
from baohan.domain.tender import Event, Stage, TenderRefused
from baohan.protocols.tender import models as m
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.files import FILETYPES
from baohan.services.tender.opening import restoring, schedule_restore
from baohan.services.tender.reception import Completion, Reception
from baohan.services.tender.registry import PROTOCOL
from baohan.services.tender.requests import Requests
from baohan.services.tender.roles import Context, Handler
from baohan.services.tender.sections import BidSections

ACTOR = INSTITUTION = "institution"
QUIT_REFUSED = "the institution refused the quit (退保失败)"
INVOICE_REFUSED = "the institution refused the invoice"


class PlatformWire:
    """The handlers of the platform's interfaces over its sections, files and side requests."""

    def __init__(self, sections: BidSections, reception: Reception, requests: Requests) -> None:
        self.sections = sections
        self.reception = reception
        self.requests = requests

    def handlers(self) -> dict[str, Handler]:
        """Every interface the platform serves, with its handler."""
        return {
            "baohannotice": self.baohannotice,
            "downloadpublickey": self.downloadpublickey,
            "uploadbaohanfile": self.uploadbaohanfile,
            "baohanfilecompletenotice": self.completenotice,
            "invoicenotice": self.invoicenotice,
            "quitnotice": self.quitnotice,
            "giveupnotice": self.giveupnotice,
        }

    # -- lookups --------------------------------------------------------------------------------------------

    @staticmethod
    def _counterparty(session: Session, request: Inbound) -> str:
        # Read in the handler's session: the registry would open a second one, and on SQLite that one
        # waits for the write lock this transaction holds.
        found = session.scalar(
            select(Counterparty.id).where(
                Counterparty.protocol == PROTOCOL,
                Counterparty.role == INSTITUTION,
                Counterparty.appid == request.appkey,
                Counterparty.active.is_(True),
            )
        )
        if found is None:  # the role checked it before the transaction
            raise TenderError(f"appkey: {request.appkey} is not registered")
        return found

    def _app(self, ctx: Context, session: Session, request: Inbound, applyno: str) -> TenderApplication:
        app = ctx.store.by_applyno(session, self._counterparty(session, request), applyno)
        if app is None:
            raise TenderError(f"applyno: {applyno} is not an application sent to this institution")
        return app

    @staticmethod
    def _same_guarantee(app: TenderApplication, baohanno: str, *, before_notice: bool = False) -> None:
        if app.baohanno is None and before_notice:
            return
        if app.baohanno is None:
            raise TenderError("baohanno: this application's guarantee is not yet notified (baohannotice)")
        if app.baohanno != baohanno:
            raise TenderError(f"baohanno: {baohanno} is not this application's guarantee number")

    # -- handlers -------------------------------------------------------------------------------------------

    def baohannotice(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """The institution underwrote the application (rate, premium, guarantee number) or refused it."""
        notice: m.BaohanNotice = request.model
        app = self._app(ctx, session, request, notice.applyno)
        now = ctx.clock()
        try:
            if notice.applystatus == "1":
                ctx.store.approve(
                    session,
                    app,
                    baohanno=notice.baohanno,
                    rate=notice.rate,
                    cost=notice.cost,
                    inst_name=notice.instname,
                    now=now,
                    actor=ACTOR,
                )
                app.generated_at = notice.generatetime
                app.payer_name, app.payer_account = notice.payername, notice.payeraccount
            else:
                ctx.store.move(
                    session, app, Event.REJECT, now=now, actor=ACTOR, detail={"baohanno": notice.baohanno}
                )
        except TenderRefused as exc:
            return Answer(False, str(exc))
        except ValueError as exc:
            raise TenderError(str(exc)) from None
        return Answer()

    def downloadpublickey(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """Our SM2 public key, 04‖X‖Y in hex, to seal the guarantee files' keys for us."""
        return Answer(data={"publickey": request.channel.own_key.public_key.to_hex()})

    def uploadbaohanfile(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """One slice of a guarantee file, staged until the completion notice."""
        upload: m.UploadBaohanFile = request.model
        app = self._app(ctx, session, request, upload.applyno)
        filetype = FILETYPES[upload.filetype]
        if filetype == "sealed":
            early = request.channel.profile.upload_before_notice
            allowed = {Stage.APPROVED.value, Stage.SEALED_UPLOADED.value} | (
                {Stage.APPLIED.value} if early else set()
            )
            if app.stage not in allowed:
                raise TenderError(
                    f"filetype: application {app.applyno} is {app.stage}; no sealed guarantee expected"
                )
            self._same_guarantee(app, upload.baohanno, before_notice=early)
        else:
            self._same_guarantee(app, upload.baohanno)
            self._restoring(ctx, session, app)
        self.reception.add_slice(session, app, filetype, upload.index, upload.baohanfile, now=ctx.clock())
        return Answer()

    def completenotice(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """Every slice is up: decrypt, check and keep the file; the guarantee is issued (or restored)."""
        notice: m.BaohanFileCompleteNotice = request.model
        app = self._app(ctx, session, request, notice.applyno)
        self._same_guarantee(app, notice.baohanno)
        filetype = FILETYPES[notice.filetype]
        completion = Completion(notice.key, notice.iv, notice.baohanfilemd5)
        now = ctx.clock()
        if filetype == "sealed":
            if app.stage not in (Stage.APPROVED.value, Stage.SEALED_UPLOADED.value):
                raise TenderError(
                    f"filetype: application {app.applyno} is {app.stage}; no sealed guarantee expected"
                )
            self.reception.complete(session, app, filetype, completion, request.channel, now=now)
            if app.stage == Stage.APPROVED.value:
                ctx.store.move(session, app, Event.UPLOAD_SEALED, now=now, actor=ACTOR)
            ctx.store.move(session, app, Event.COMPLETE_SEALED, now=now, actor=ACTOR)
            if app.bid_section_id is not None:
                schedule_restore(
                    ctx, self.sections, session, app, self.sections.get(session, app.bid_section_id)
                )
            return Answer()
        self._restoring(ctx, session, app)
        sealed = self.reception.files.get(session, app, "sealed")
        self.reception.complete(
            session, app, filetype, completion, request.channel, now=now, sealed_ofd=sealed
        )
        ctx.store.move(session, app, Event.COMPLETE_PLAIN, now=now, actor=ACTOR)
        return Answer()

    def _restoring(self, ctx: Context, session: Session, app: TenderApplication) -> None:
        """The plain guarantee arrives only after the restore: the institution took the key."""
        if app.stage == Stage.SEALED_COMPLETED.value:
            try:
                restoring(ctx, self.sections, session, app, actor=ACTOR)
            except TenderRefused as exc:
                raise TenderError(f"filetype: {exc}") from None
        if app.stage != Stage.RESTORING.value:
            raise TenderError(
                f"filetype: application {app.applyno} is {app.stage}; no plain guarantee expected"
            )

    def invoicenotice(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """The invoice we asked for was issued (served at invoiceurl) or refused."""
        notice: m.InvoiceNotice = request.model
        app = ctx.store.by_baohanno(session, self._counterparty(session, request), notice.baohanno)
        if app is None:
            raise TenderError(f"baohanno: {notice.baohanno} is not a guarantee of this institution")
        now = ctx.clock()
        try:
            if notice.applystatus == "1":
                if notice.invoiceurl is None:
                    raise TenderError("invoiceurl: required when applystatus is 1")
                self.requests.issue_invoice(
                    session,
                    app,
                    url=notice.invoiceurl,
                    code=notice.invoicecode,
                    number=notice.invoiceno,
                    file_id=None,
                    now=now,
                    actor=ACTOR,
                )
            else:
                self.requests.refuse_invoice(session, app, INVOICE_REFUSED, now=now, actor=ACTOR)
        except TenderRefused as exc:
            return Answer(False, str(exc))
        except (LookupError, ValueError) as exc:
            raise TenderError(str(exc)) from None
        return Answer()

    def quitnotice(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """The institution's decision on our quit: a success says when (tuibaotime)."""
        notice: m.QuitNotice = request.model
        app = self._app(ctx, session, request, notice.applyno)
        self._same_guarantee(app, notice.baohanno)
        try:
            if notice.applystatus == "1":
                decided = self.requests.decide_quit(session, app, accept=True, now=ctx.clock(), actor=ACTOR)
                decided.quit_at = app.quit_at = notice.tuibaotime
            else:
                self.requests.decide_quit(
                    session, app, accept=False, now=ctx.clock(), actor=ACTOR, reason=QUIT_REFUSED
                )
        except TenderRefused as exc:
            return Answer(False, str(exc))
        except LookupError as exc:
            raise TenderError(f"applyno: {exc}") from None
        return Answer()

    def giveupnotice(self, ctx: Context, session: Session, request: Inbound) -> Answer:
        """The bidder gave up at the institution: accepted while not yet confirmed to the bidder."""
        notice: m.GiveUpNotice = request.model
        app = self._app(ctx, session, request, notice.applyno)
        record = self.requests.give_up_asked(session, app, now=ctx.clock(), actor=ACTOR)
        if record.status != "accepted":
            return Answer(False, record.message or "give-up refused")
        return Answer()
