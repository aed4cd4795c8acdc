"""The issuer role (出函机构) of the tender protocol: take sealed applications, underwrite, issue the sealed
guarantee before the bid opens and the plain one after it.

Handlers (:data:`ISSUER_HANDLERS`) answer the platform: baohanapply keeps the application as it came, still
sealed for the bidder, and answers where the bidder opens it (``redirecturl``); baohanrestore, once the
bid opened, opens the project fields with the project key, makes the plain guarantee and queues its upload.
Operators approve or reject (baohannotice), record the payment and issue the sealed guarantee (queued for
upload, then baohanfilecompletenotice). Every change is written with the notices it causes in one
transaction; a refusal is a ValueError (a TenderRefused from the lifecycle, an IssueError) saying why.

A project field is never in clear here before baohanrestore: not in a row, a history entry, a log line,
an outbox payload or an answer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderApplication
from baohan.domain.tender import Event, TenderRefused
from baohan.gm import SM2Certificate
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.protocols.tender.sealing import SealingError, decode_key, open_project_field
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.bidder_links import link_token
from baohan.services.tender.issuer_desk import IssuerDesk
from baohan.services.tender.issuing import GuaranteeMaker, IssueError
from baohan.services.tender.roles import Context, Handler, TenderRoleBase
from baohan.services.tender.store import ApplicationConflict, Sealed

log = logging.getLogger(__name__)
SIDE = "issuer"
BIDDER_PATH = "/bidder/"
APPROVED, REJECTED = "1", "0"  # baohannotice applystatus
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class IssuerSettings:
    """Who we are to bidders and platforms, and how long a guarantee holds."""

    public_url: str  # where bidders reach us: redirecturl = public_url + "/bidder/" + token
    institution_name: str  # on the agreement, the guarantees and baohannotice's instname
    trusted_bidder_cas: Sequence[SM2Certificate] = ()  # bidder certificates must chain to one of these
    identity: str = "default"  # our key and certificate, which seal the guarantees
    seal: bytes | None = None  # an SESeal from a seal maker listing our certificate; None: self-made
    validity: timedelta = timedelta(days=180)  # a guarantee's term from its issue
    public_key_ttl: timedelta = timedelta(hours=24)  # how long a platform's downloadpublickey answer is used
    claim_wait: timedelta = timedelta(days=1)  # a claim is paid on first demand after this, unless stopped
    aftercare: AftercareSettings = field(default_factory=AftercareSettings)  # invoices, claim documents

    def __post_init__(self) -> None:
        if not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"public_url must be an http(s) URL, not {self.public_url!r}")
        if not self.institution_name.strip():
            raise ValueError("institution_name must not be empty")


def redirect_url(ctx: Context, app: TenderApplication) -> str:
    """Where the bidder opens ``app``: our public URL, the bidder page, an unguessable token."""
    settings: IssuerSettings = ctx.settings
    return settings.public_url.rstrip("/") + BIDDER_PATH + link_token(ctx.box, app.id)


def _application(ctx: Context, session: Session, request: Inbound) -> TenderApplication:
    """The application the request names by applyno (and baohanno, when it carries one)."""
    model = request.model
    app = ctx.store.by_applyno(session, ctx.counterparty_id(session, request.appkey), model.applyno)
    if app is None:
        raise TenderError(f"applyno: {model.applyno} is not an application we received")
    baohanno = getattr(model, "baohanno", None)
    if baohanno is not None and app.baohanno != baohanno:
        raise TenderError(f"baohanno: {baohanno} is not the guarantee of application {model.applyno}")
    return app


def apply(ctx: Context, session: Session, request: Inbound) -> Answer:
    """baohanapply: keep the sealed application (once per applyno) and answer the bidder's page."""
    model = request.model
    sealed = Sealed(model.applyno, model.platformcode, model.applydata, model.digitalenvelope)
    try:
        app, _ = ctx.store.add(
            session, ctx.counterparty_id(session, request.appkey), sealed, now=ctx.clock(), actor="platform"
        )
    except ApplicationConflict as exc:
        raise TenderError(f"applyno: {exc}") from None
    return Answer(data={"redirecturl": redirect_url(ctx, app)})


def restore(ctx: Context, session: Session, request: Inbound) -> Answer:
    """baohanrestore: the bid opened; open the project fields with the key, keep both, and queue the plain
    guarantee (made and uploaded by its job). Refused, with nothing kept, before kaibiaotime or when the
    key does not open every project field."""
    model = request.model
    app = _application(ctx, session, request)
    now = ctx.clock()
    try:
        key = decode_key(model.key, request.channel.profile.sm4_key_text)
        ctx.store.move(session, app, Event.RESTORE, now=now, actor="platform", kaibiaotime=model.kaibiaotime)
        project = {
            name: open_project_field(text, key, name) for name, text in (app.sealed_fields or {}).items()
        }
        ctx.store.record_project_key(session, app, key, project, now=now)
    except SealingError as exc:
        raise TenderError(f"key: does not open the project fields ({exc})") from None
    except (TenderRefused, ValueError) as exc:
        raise TenderError(str(exc)) from None
    GuaranteeMaker.queue(session, app, "plain", actor="platform", now=now)
    return Answer()


ISSUER_HANDLERS: Mapping[str, Handler] = {"baohanapply": apply, "baohanrestore": restore}
"""The interfaces the issuer answers and their handlers."""


class IssuerService(TenderRoleBase):
    """The tender issuer: the router's Endpoint (handlers by interface), the bidder desk, operators' use cases."""

    side: ClassVar[str] = SIDE

    def __init__(self, ctx: Context, handlers: Mapping[str, Handler], maker: GuaranteeMaker) -> None:
        super().__init__(ctx, handlers)
        self.settings: IssuerSettings = ctx.settings
        self.maker = maker
        self.desk = IssuerDesk(
            ctx, institution=self.settings.institution_name, trusted=self.settings.trusted_bidder_cas
        )

    # -- operators' use cases -----------------------------------------------------------------------------

    def approve(
        self,
        application_pk: str,
        *,
        rate: Decimal,
        actor: str,
        cost: Decimal | None = None,
        baohanno: str | None = None,
    ) -> TenderApplication:
        """Underwrite: fix the guarantee number, rate and premium (rate × bzjamount unless ``cost`` is
        given); baohannotice applystatus 1 goes out now, or after the slices with ``upload_before_notice``."""
        ctx = self.context
        with transaction(ctx.sessions) as session:
            app = ctx.store.get(session, application_pk)
            if app.bzj_amount is None:
                raise IssueError(f"application {app.applyno} is not opened by the bidder yet")
            premium = cost if cost is not None else (app.bzj_amount * rate).quantize(CENTS, ROUND_HALF_UP)
            ctx.store.approve(
                session,
                app,
                baohanno=baohanno or new_baohanno(ctx.clock()),
                rate=rate,
                cost=premium,
                inst_name=self.settings.institution_name,
                now=ctx.clock(),
                actor=actor,
            )
            if not ctx.profile(session, app.counterparty_id).upload_before_notice:
                ctx.notify(session, app, "baohannotice", notice_fields(app))
            return app

    def reject(self, application_pk: str, *, actor: str, reason: str | None = None) -> TenderApplication:
        """Decline to underwrite: baohannotice applystatus 0 (a number, no rate, no premium) goes out now."""
        ctx = self.context
        with transaction(ctx.sessions) as session:
            app = ctx.store.get(session, application_pk)
            now = ctx.clock()
            ctx.store.move(session, app, Event.REJECT, now=now, actor=actor, reason=reason)
            app.baohanno = app.baohanno or new_baohanno(now)
            app.inst_name, app.generated_at = self.settings.institution_name, now
            app.rate, app.cost = Decimal(0), Decimal("0.00")
            ctx.notify(session, app, "baohannotice", notice_fields(app, status=REJECTED))
            return app

    def record_payment(
        self,
        application_pk: str,
        *,
        amount: Decimal,
        actor: str,
        payer_name: str | None = None,
        payer_account: str | None = None,
    ) -> TenderApplication:
        """The premium was paid (from the bidder's basic account: both payer fields); ValueError if not
        approved, or an amount other than the premium."""
        ctx = self.context
        with transaction(ctx.sessions) as session:
            app = ctx.store.get(session, application_pk)
            if app.cost is not None and amount != app.cost:
                raise IssueError(f"amount: {amount} is not the premium {app.cost} of {app.applyno}")
            return ctx.store.record_payment(
                session,
                app,
                amount=amount,
                now=ctx.clock(),
                actor=actor,
                payer_name=payer_name,
                payer_account=payer_account,
            )

    def issue(self, application_pk: str, *, actor: str) -> TenderApplication:
        """Make the sealed guarantee (project fields as ciphertext, the signed agreement inside, our seal),
        keep it and queue its upload; refused before payment, and once the bid opened."""
        ctx = self.context
        now = ctx.clock()
        seal = self.maker.seal(now)
        with transaction(ctx.sessions) as session:
            app = ctx.store.get(session, application_pk)
            if app.stage != "paid":
                raise IssueError(f"application {app.applyno} is {app.stage}; a guarantee is issued once paid")
            if app.kaibiaotime is not None and now >= app.kaibiaotime:
                raise IssueError(f"application {app.applyno}: the bid opened at {app.kaibiaotime}; too late")
            content = self.maker.sealed(session, app, now, seal)
            profile = ctx.profile(session, app.counterparty_id)
            self.maker.keep(session, app, "sealed", content, profile, now, actor=actor)
            return app

    def application(self, application_pk: str) -> TenderApplication:
        """This side's application ``application_pk``; LookupError if none."""
        with self.context.sessions() as session:
            return self.context.store.get(session, application_pk)

    def redirect_url(self, application_pk: str) -> str:
        """The bidder's page of an application (what baohanapply answered)."""
        return redirect_url(self.context, self.application(application_pk))


def new_baohanno(now: datetime) -> str:
    """A fresh guarantee number: TB, the date and 12 random hex digits (unique without a counter)."""
    return f"TB{now:%Y%m%d}{secrets.token_hex(6).upper()}"


def notice_fields(app: TenderApplication, status: str = APPROVED) -> dict[str, Any]:
    """baohannotice's fields for ``app`` (the payer's only once the payment named them)."""
    return {
        "applyno": app.applyno,
        "baohanno": app.baohanno,
        "payername": app.payer_name,
        "payeraccount": app.payer_account,
        "instname": app.inst_name,
        "generatetime": app.generated_at,
        "rate": app.rate,
        "cost": app.cost,
        "applystatus": status,
    }
