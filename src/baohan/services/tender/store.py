"""One side's tender applications in the database: added idempotently, found, moved through the lifecycle
with their history, and given their project key (sealed at rest) once the bid opened.

Both roles use it: ``side`` says whose copy a row is (issuer | platform), so the two may share a database.
Every method works inside the caller's session, so a move and the notice it causes commit together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import TenderAgreement, TenderApplication, TenderEvent
from baohan.adapters.keystore import SecretBox
from baohan.domain.ids import new_id
from baohan.domain.tender import (
    ISSUER_MACHINE,
    PLATFORM_MACHINE,
    Event,
    Stage,
    Tender,
    check_money,
    check_rate,
    step,
)
from baohan.gm import sm3_hex

SIDES = ("issuer", "platform")
BAOHANNO_MAX = 50
INST_NAME_MAX = 200
PROJECT_FIELDS = ("biaoduanno", "biaoduanname", "zbr", "zbrorgnum")  # sealed with the project key (密文)


class ApplicationConflict(ValueError):
    """An applyno already received from this counterparty with other content."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A baohanapply as it travels: still sealed for the bidder."""

    applyno: str
    platformcode: str
    applydata: str
    digitalenvelope: str

    def content_hash(self) -> str:
        """SM3 of the content that makes two submissions the same application."""
        text = json.dumps([self.platformcode, self.applydata, self.digitalenvelope], ensure_ascii=False)
        return sm3_hex(text.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class Opened:
    """What the bidder's opening reveals: the plain bidder fields and the project fields still sealed."""

    bidder_name: str
    bidder_code: str
    bzj_amount: Decimal
    sealed_fields: dict[str, str]


def check_text(name: str, value: str | None, limit: int) -> str:
    """``value`` as a required text field of at most ``limit`` characters; ValueError naming ``name``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: required")
    if len(value) > limit or "\0" in value:
        raise ValueError(f"{name}: at most {limit} characters (no NUL)")
    return value


def project_key_context(application_pk: str) -> str:
    """The record a sealed project key belongs to: it opens only there."""
    return f"tender_application:{application_pk}:project_key"


def lifecycle_state(app: TenderApplication) -> Tender:
    """The lifecycle state of a stored application."""
    resume = Stage(app.resume_stage) if app.resume_stage else None
    return Tender(Stage(app.stage), app.kaibiaotime, resume)


class Applications:
    """``side``'s tender applications (issuer | platform)."""

    def __init__(self, side: str, box: SecretBox) -> None:
        if side not in SIDES:
            raise ValueError(f"side must be one of {', '.join(SIDES)}, not {side!r}")
        self.side = side
        self._box = box
        self.machine = ISSUER_MACHINE if side == "issuer" else PLATFORM_MACHINE

    def add(
        self,
        session: Session,
        counterparty_id: str,
        sealed: Sealed,
        *,
        now: datetime,
        actor: str,
        bid_section_id: str | None = None,
    ) -> tuple[TenderApplication, bool]:
        """Store an application; with its applyno already stored, the existing one and False when the content
        is the same, ApplicationConflict when it differs. True when this call stored it."""
        check_text("applyno", sealed.applyno, 50)
        check_text("platformcode", sealed.platformcode, 50)
        check_text("applydata", sealed.applydata, 1_000_000)
        check_text("digitalenvelope", sealed.digitalenvelope, 10_000)
        digest = sealed.content_hash()
        existing = self.by_applyno(session, counterparty_id, sealed.applyno)
        if existing is None:
            app = TenderApplication(
                id=new_id(),
                side=self.side,
                counterparty_id=counterparty_id,
                applyno=sealed.applyno,
                platformcode=sealed.platformcode,
                bid_section_id=bid_section_id,
                stage=Stage.APPLIED.value,
                content_hash=digest,
                applydata=sealed.applydata,
                digitalenvelope=sealed.digitalenvelope,
                created_at=now,
                updated_at=now,
            )
            try:
                with session.begin_nested():  # a concurrent twin wins the race: compare with it instead
                    session.add(app)
                    session.flush()
            except IntegrityError:
                existing = self.by_applyno(session, counterparty_id, sealed.applyno)
                if existing is None:
                    raise
            else:
                self._history(session, app, "apply", None, actor, {}, now)
                return app, True
        if existing.content_hash != digest:
            raise ApplicationConflict(
                f"applyno {sealed.applyno} was already received with other content; send a new applyno"
            )
        return existing, False

    def by_applyno(self, session: Session, counterparty_id: str, applyno: str) -> TenderApplication | None:
        """The application ``applyno`` of ``counterparty_id``, or None."""
        return session.scalars(
            select(TenderApplication).where(
                TenderApplication.side == self.side,
                TenderApplication.counterparty_id == counterparty_id,
                TenderApplication.applyno == applyno,
            )
        ).first()

    def by_baohanno(self, session: Session, counterparty_id: str, baohanno: str) -> TenderApplication | None:
        """The application whose guarantee is ``baohanno``, of ``counterparty_id``, or None."""
        return session.scalars(
            select(TenderApplication).where(
                TenderApplication.side == self.side,
                TenderApplication.counterparty_id == counterparty_id,
                TenderApplication.baohanno == baohanno,
            )
        ).first()

    def get(self, session: Session, application_pk: str) -> TenderApplication:
        """This side's application ``application_pk``; LookupError if there is none."""
        app = session.get(TenderApplication, application_pk)
        if app is None or app.side != self.side:
            raise LookupError(f"no tender application {application_pk}")
        return app

    def move(
        self,
        session: Session,
        app: TenderApplication,
        event: Event,
        *,
        now: datetime,
        actor: str,
        kaibiaotime: datetime | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> TenderApplication:
        """Apply ``event`` to ``app`` and write it to the history; TenderRefused (nothing written) if refused.

        ``detail`` goes into the history as given: never put a plaintext project field in it before restore.
        """
        before = app.stage
        after = step(
            lifecycle_state(app), event, now=now, kaibiaotime=kaibiaotime, reason=reason, machine=self.machine
        )
        app.stage = after.stage.value
        app.resume_stage = after.resume.value if after.resume else None
        app.kaibiaotime = after.kaibiaotime
        app.updated_at = now
        shown = dict(detail or {})
        if reason:
            shown.setdefault("reason", reason)
        self._history(session, app, event.value, before, actor, shown, now)
        return app

    def record_opened(
        self, session: Session, app: TenderApplication, opened: Opened, *, now: datetime, actor: str
    ) -> TenderApplication:
        """Keep what the bidder's opening revealed and move to OPENED; the project fields stay sealed."""
        unknown = sorted(set(opened.sealed_fields) - set(PROJECT_FIELDS))
        if unknown:
            raise ValueError(f"sealed_fields: not project fields: {', '.join(unknown)}")
        check_text("biddername", opened.bidder_name, 200)
        check_text("biddercode", opened.bidder_code, 50)
        check_money("bzjamount", opened.bzj_amount)
        self.move(session, app, Event.OPEN, now=now, actor=actor)
        app.bidder_name, app.bidder_code = opened.bidder_name, opened.bidder_code
        app.bzj_amount, app.sealed_fields = opened.bzj_amount, dict(opened.sealed_fields)
        return app

    def record_agreement(
        self,
        session: Session,
        app: TenderApplication,
        *,
        certificate_pem: str,
        signature: str,
        file_id: str,
        now: datetime,
        actor: str,
    ) -> TenderAgreement:
        """Keep the agreement the bidder signed (its bytes already in the file store) and move to AGREED.

        The caller has checked the signature against the certificate; this only keeps them together.
        """
        if not certificate_pem.strip() or not signature.strip():
            raise ValueError("agreement: the bidder's certificate and signature are both required")
        self.move(session, app, Event.AGREE, now=now, actor=actor)
        agreement = TenderAgreement(
            application_pk=app.id,
            certificate_pem=certificate_pem,
            signature=signature,
            file_id=file_id,
            signed_at=now,
        )
        session.add(agreement)
        app.bidder_certificate_pem = app.bidder_certificate_pem or certificate_pem
        return agreement

    def agreement(self, session: Session, app: TenderApplication) -> TenderAgreement | None:
        """The agreement ``app``'s bidder signed, or None."""
        return session.get(TenderAgreement, app.id)

    def approve(
        self,
        session: Session,
        app: TenderApplication,
        *,
        baohanno: str,
        rate: Decimal,
        cost: Decimal,
        inst_name: str,
        now: datetime,
        actor: str,
        generated_at: datetime | None = None,
    ) -> TenderApplication:
        """Underwritten (baohannotice applystatus 1): the guarantee number, rate and premium are fixed, issued
        at ``generated_at`` (default ``now``). ValueError naming the field when one is wrong or taken."""
        check_text("baohanno", baohanno, BAOHANNO_MAX)
        if baohanno != baohanno.strip():
            raise ValueError("baohanno: no spaces around it")
        check_rate("rate", rate)
        check_money("cost", cost)
        check_text("instname", inst_name, INST_NAME_MAX)
        taken = self.by_baohanno(session, app.counterparty_id, baohanno)
        if taken is not None and taken.id != app.id:
            raise ValueError(f"baohanno: {baohanno} is already the number of application {taken.applyno}")
        detail = {"baohanno": baohanno, "rate": rate, "cost": cost}
        self.move(session, app, Event.APPROVE, now=now, actor=actor, detail=detail)
        app.baohanno, app.rate, app.cost, app.inst_name, app.generated_at = (
            baohanno,
            rate,
            cost,
            inst_name,
            now,
        )
        return app

    def record_payment(
        self,
        session: Session,
        app: TenderApplication,
        *,
        amount: Decimal,
        now: datetime,
        actor: str,
        payer_name: str | None = None,
        payer_account: str | None = None,
    ) -> TenderApplication:
        """The premium was paid, from the bidder's basic account when the centre asks for one (both payer
        fields then). ValueError naming the field when one is wrong."""
        check_money("amount", amount)
        if (payer_name is None) != (payer_account is None):
            raise ValueError("payername and payeraccount: give both (a basic-account payment) or neither")
        for name, value, limit in (("payername", payer_name, 200), ("payeraccount", payer_account, 50)):
            if value is not None and not 0 < len(value.strip()) <= limit:
                raise ValueError(f"{name}: must be 1 to {limit} characters")
        self.move(session, app, Event.PAY, now=now, actor=actor, detail={"amount": amount})
        app.paid_amount, app.paid_at = amount, now
        app.payer_name, app.payer_account = payer_name, payer_account
        return app

    def record_project_key(
        self,
        session: Session,
        app: TenderApplication,
        key: bytes,
        project_fields: dict[str, str],
        *,
        now: datetime,
    ) -> TenderApplication:
        """Keep the project key (sealed at rest) and the project fields it opened; only once the bid opened."""
        if not lifecycle_state(app).bid_opened(now):
            raise ValueError(f"application {app.applyno}: the project key is kept only once the bid opened")
        unknown = sorted(set(project_fields) - set(PROJECT_FIELDS))
        if unknown:
            raise ValueError(f"project_fields: not project fields: {', '.join(unknown)}")
        app.project_key_sealed = self._box.seal(key, context=project_key_context(app.id))
        app.project_fields = dict(project_fields)
        app.restored_at = now
        return app

    def project_key(self, app: TenderApplication) -> bytes | None:
        """The project key of ``app`` opened from the key store, or None before restore."""
        if app.project_key_sealed is None:
            return None
        return self._box.open(app.project_key_sealed, context=project_key_context(app.id))

    def note(
        self,
        session: Session,
        app: TenderApplication,
        event: str,
        *,
        now: datetime,
        actor: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Write to ``app``'s history something that happened without moving it (a refusal we received)."""
        self._history(session, app, event, app.stage, actor, dict(detail or {}), now)

    def history(self, session: Session, app: TenderApplication) -> list[TenderEvent]:
        """Everything that happened to ``app``, oldest first."""
        return list(
            session.scalars(
                select(TenderEvent)
                .where(TenderEvent.application_pk == app.id)
                .order_by(TenderEvent.at, TenderEvent.id)
            )
        )

    @staticmethod
    def _history(
        session: Session,
        app: TenderApplication,
        event: str,
        before: str | None,
        actor: str,
        detail: dict[str, Any],
        now: datetime,
    ) -> None:
        plain = {k: str(v) if isinstance(v, Decimal | datetime) else v for k, v in detail.items()}
        session.add(
            TenderEvent(
                application_pk=app.id,
                event=event,
                from_stage=before,
                to_stage=app.stage,
                actor=actor,
                detail=plain,
                at=now,
            )
        )
