"""The issuer role (出函机构) of the procurement protocol: receive, underwrite, issue, verify, pay claims.

Every state change is written with the notice it causes (ELY102/106/108) in one transaction, through
the outbox; the answer to each request is recorded in the same transaction for replays.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters import outbox
from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.db.tables import Application, Claim, RefundRequest
from baohan.adapters.files import FileStore
from baohan.domain.claims import ClaimRefused, check_claim_amount, check_claim_payment
from baohan.domain.ids import new_id
from baohan.domain.lifecycle import Event, Stage
from baohan.domain.payments import PaymentRefused, check_premium_paid
from baohan.domain.refunds import EVENTS, DecisionRefused, RefundKind, Route, check_decision, route_refund
from baohan.domain.underwriting import Rules
from baohan.domain.validity import validity
from baohan.gm import sm3_hex
from baohan.protocols.fields import SHANGHAI, MessageInvalid
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.endpoint import Answer, Inbound
from baohan.protocols.procurement.tables import ISSUER_ECHOES, check_echoes, check_outgoing, limit_of
from baohan.services.idempotency import Replays
from baohan.services.procurement.intake import Intake
from baohan.services.procurement.notices import money, notice_key, status_key, status_notice, wire_time
from baohan.services.procurement.registry import Identity, Registry, SessionFactory
from baohan.services.procurement.role import OperatorError, RoleService

log = logging.getLogger(__name__)
SIDE = "issuer"
SERVED = frozenset({"ELY101", "ELY103", "ELY104", "ELY105", "ELY107", "ELY109"})
# ELY109's answers: the ELY102 status if done and if refused.
_REFUND_STATUS = {RefundKind.SURRENDER: ("08", "09"), RefundKind.CANCEL: ("07", "06")}


@dataclass(frozen=True, slots=True)
class IssuerSettings:
    """Who we say we are (checked against our certificate, whose name the letters carry) and the rules."""

    institution_name: str | None
    rules: Rules
    identity: str = "default"
    notice_deadline: timedelta = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class _Issued:
    guarantee_no: str
    valid_from: datetime
    valid_to: datetime
    issued_at: datetime
    pdf: bytes
    file_name: str


class IssuerService(RoleService):
    """The issuer: serves the platform's requests (as a router Endpoint) and the operator's actions."""

    side = SIDE
    served = SERVED

    def __init__(
        self,
        sessions: SessionFactory,
        registry: Registry,
        files: FileStore,
        settings: IssuerSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        replays: Replays | None = None,
    ) -> None:
        super().__init__(sessions, registry, files, clock=clock, replays=replays)
        self._settings = settings
        self._intake = Intake(
            sessions,
            settings.rules,
            box=registry.box,
            notice_deadline=settings.notice_deadline,
            clock=clock,
            replays=self._replays,
        )

    def close(self) -> None:
        """Stop the intake writer (work already queued is finished)."""
        self._intake.close()

    # -- the router's Endpoint -------------------------------------------------------------------------

    async def handle_async(self, request: Inbound) -> Answer:
        """As :meth:`handle` for the event loop: ELY101 awaits the intake's group commit, the rest a thread."""
        if request.transcode == "ELY101":
            peer = self._registry.peer_by_appid(request.appid)
            assert peer is not None
            limits = peer.channel.profile.limits
            _check_echoes(request, limits)
            return await self._intake.receive_async(request, peer.id, limits)
        return await asyncio.to_thread(self.handle, request)

    def handle(self, request: Inbound) -> Answer:
        """Process one request and record its answer, atomically; a concurrent twin gets the same answer."""
        peer = self._registry.peer_by_appid(request.appid)
        assert peer is not None  # the router only hands over requests from registered appids
        handlers: dict[str, Callable[[Session, str, Any], Answer]] = {
            "ELY103": self._fetch_file,
            "ELY104": self._verify_file,
            "ELY105": self._receive_claim,
            "ELY107": self._invalidate,
            "ELY109": self._cancel_or_surrender,
        }
        if request.transcode == "ELY101":
            limits = peer.channel.profile.limits
            _check_echoes(request, limits)
            return self._intake.receive(request, peer.id, limits)
        self._registry.identity(self._settings.identity)  # loaded (and cached) outside the transaction
        return self._transact(request, handlers[request.transcode])

    # -- inbound transcodes ------------------------------------------------------------------------------

    def _fetch_file(self, session: Session, peer_id: str, msg: m.ELY103Request) -> Answer:
        app = self._by_application_id(session, peer_id, msg.applicationId)
        if app.file_id is None:
            # The application exists (203 would say it does not): it has no letter yet, or never will.
            raise ProtocolError(
                Code.INVALID,
                f"applicationId: {msg.applicationId} has no guarantee file yet: it is {app.stage}, "
                "and a file exists once the guarantee is issued (ELY102 03)",
            )
        content = self._files.get(session, app.file_id)
        data = {
            "guaranteeFileName": app.file_name,
            "guaranteeFileContent": base64.b64encode(content).decode("ascii"),
        }
        check_outgoing("ELY103", data, self._limits(session, peer_id), response=True)
        return Answer(data=data, stored=(("guaranteeFileContent", app.file_id),))

    def _verify_file(self, session: Session, peer_id: str, msg: m.ELY104Request) -> Answer:
        from baohan.adapters.documents.pdf_signature import verify_pdf

        app = self._by_guarantee_id(session, peer_id, msg.guaranteeId)
        # Letters signed before a `set-identity --replace` still verify: retired certificates stay trusted.
        trusted = self._registry.identity(self._settings.identity).trusted()
        submitted = bytes(msg.guaranteeData)
        check = verify_pdf(submitted, trusted)
        valid, reason = check.valid, check.reason
        if valid and check.signing_time is None:
            valid, reason = False, "the signature carries no signing time, which ELY104 must report"
        if valid:
            # A genuine letter of ours is not enough: it must be the letter of *this* guarantee. A valid
            # signature covers the whole file, so the file is the one we stored, byte for byte.
            stored = self._files.get(session, app.file_id) if app.file_id is not None else None
            if stored is None or sm3_hex(stored) != sm3_hex(submitted):
                valid = False
                reason = f"the file is not the letter of guarantee {msg.guaranteeId} (another letter, or another version)"
        data: dict[str, Any] = {"guaranteeId": msg.guaranteeId, "status": "01" if valid else "02"}
        # Status 02 describes the certificate found too; an unsigned file has none, and then all six fields
        # are left out (README, "ELY104"): the platform's model takes either, and nothing in between.
        if check.signer is not None:
            data.update(
                certNum=check.signer.serial,
                certOwner=check.signer.subject_cn[:100],
                certBeginTime=check.signer.not_before.astimezone(SHANGHAI).strftime("%Y-%m-%d"),
                certEndTime=check.signer.not_after.astimezone(SHANGHAI).strftime("%Y-%m-%d"),
                certAuthor=check.signer.issuer_cn[:100],
            )
            if check.signing_time is not None:
                data["signTime"] = wire_time(check.signing_time)
        check_outgoing("ELY104", data, self._limits(session, peer_id), response=True)
        message = "验证成功" if valid else f"验证失败: {reason}"
        return Answer(Code.OK, message[:200], data)

    def _receive_claim(self, session: Session, peer_id: str, msg: m.ELY105Request) -> Answer:
        app = self._by_guarantee_id(session, peer_id, msg.guaranteeId)
        if msg.projectCode != app.project_code:
            raise ProtocolError(
                Code.UNKNOWN_PROJECT,
                f"projectCode: {msg.projectCode} is not the project of guarantee {msg.guaranteeId}",
            )
        if msg.socialCreditCode != app.supplier_code:
            raise ProtocolError(
                Code.UNKNOWN_SUPPLIER,
                f"socialCreditCode: {msg.socialCreditCode} is not the "
                f"principal of guarantee {msg.guaranteeId}",
            )
        try:
            check_claim_amount(msg.claimAmount, app.amount)
        except ClaimRefused as exc:
            raise ProtocolError(Code.INVALID, f"claimAmount: {exc}") from None
        self._move_or_refuse(
            session, app, Event.OPEN_CLAIM, "platform", {"claimAmount": money(msg.claimAmount)}
        )
        claim = self._new_claim(session, app, msg, "open")
        self._notify(
            session, app, "ELY106", {"guaranteeId": app.guarantee_id, "status": "00"}, f"{claim.id}:00"
        )
        return Answer()

    def _invalidate(self, session: Session, peer_id: str, msg: m.ELY107Request) -> Answer:
        app = self._by_guarantee_id(session, peer_id, msg.guaranteeId)
        reason = "项目履约完成" if msg.invalidType.value == "0" else "保函文件格式错误"
        self._move_or_refuse(
            session,
            app,
            Event.INVALIDATE,
            "platform",
            {"invalidType": msg.invalidType.value, "remark": msg.remark},
        )
        now = self._clock()
        notice = f"保函{app.guarantee_id}因{reason}于{wire_time(now)}注销"
        self._notify(
            session,
            app,
            "ELY108",
            {"guaranteeId": app.guarantee_id, "cancelDate": wire_time(now), "cancelNotice": notice[:200]},
            "ELY108",
        )
        return Answer()

    def _cancel_or_surrender(self, session: Session, peer_id: str, msg: m.ELY109Request) -> Answer:
        app = self._by_application_id(session, peer_id, msg.applicationId)
        kind = RefundKind.SURRENDER if msg.applicationType.value == "01" else RefundKind.CANCEL
        ok_status, fail_status = _REFUND_STATUS[kind]
        detail = {"reason": msg.refundReason}
        routed = route_refund(Stage(app.stage), kind, by_operator=self._settings.rules.refunds_by_operator)
        event = routed.event
        if routed.route is Route.REFUSE:
            self._log(session, app, app.stage, f"{event.value}_refused", "rules", {"why": routed.why})
            self._notify_status(
                session, app, fail_status, failReason=routed.why[:255], dedupe=uuid.uuid4().hex
            )
            return Answer()
        if routed.route is Route.APPLY:
            self._move(session, app, event, "platform", detail)
            self._notify_status(session, app, ok_status)
            return Answer()
        waiting = session.scalars(
            select(RefundRequest.id).where(
                RefundRequest.application_pk == app.id, RefundRequest.status == "pending"
            )
        ).first()
        if waiting is not None:
            # The same request again while the first waits: one decision will answer both.
            self._log(
                session, app, app.stage, f"{event.value}_repeated", "platform", {**detail, "request": waiting}
            )
            return Answer()
        request = RefundRequest(
            id=new_id(), application_pk=app.id, kind=kind.value, reason=msg.refundReason, status="pending"
        )
        session.add(request)
        self._log(
            session, app, app.stage, f"{event.value}_requested", "platform", {**detail, "request": request.id}
        )
        return Answer()

    # -- operator actions ------------------------------------------------------------------------------------

    def _locked(self, session: Session, key: str) -> Application:
        """The application, its row locked until the transaction ends: two operators acting on it at once
        take turns, and the second sees what the first did (as claims and refunds are decided)."""
        app = self._get(session, key)
        session.refresh(app, with_for_update=True)
        return app

    def approve(self, application_pk: str, actor: str) -> Application:
        """Approve an application waiting in manual review (sends ELY102 01)."""
        with transaction(self._sessions) as session:
            app = self._locked(session, application_pk)
            self._operator_move(session, app, Event.APPROVE, actor, {})
            self._notify_status(session, app, "01")
            return app

    def reject(self, application_pk: str, reason: str, actor: str) -> Application:
        """Refuse an application waiting in manual review (sends ELY102 02 with the reason)."""
        if not reason.strip():
            raise OperatorError("a rejection needs a reason")
        with transaction(self._sessions) as session:
            app = self._locked(session, application_pk)
            app.fail_reason = reason[:255]
            self._operator_move(session, app, Event.REJECT, actor, {"reason": reason})
            self._notify_status(session, app, "02", failReason=app.fail_reason)
            return app

    def record_payment(
        self, application_pk: str, amount: Decimal, paid_at: datetime, pay_type: str, actor: str
    ) -> Application:
        """Record the premium payment (ELY102 05) and issue the guarantee (ELY102 03, or 04 if issue fails)."""
        if pay_type not in ("01", "02", "03", "04"):
            raise OperatorError("pay_type must be 01 (bank transfer), 02 (WeChat), 03 (Alipay) or 04 (other)")
        if paid_at.tzinfo is None:
            raise OperatorError("paid_at must carry a time zone")
        with transaction(self._sessions) as session:
            app = self._locked(session, application_pk)
            try:
                check_premium_paid(amount, app.premium)
            except PaymentRefused as exc:
                raise OperatorError(str(exc)) from None
            app.paid_amount, app.paid_at, app.pay_type = amount, paid_at, pay_type
            self._operator_move(
                session, app, Event.PAY, actor, {"amount": money(amount), "pay_type": pay_type}
            )
            self._notify_status(
                session, app, "05", payTime=wire_time(paid_at), payAmt=money(amount), payType=pay_type
            )
        return self.issue(application_pk, actor)

    def issue(self, application_pk: str, actor: str) -> Application:
        """Render, sign and store the guarantee letter; ELY102 03 on success, 04 with the reason on failure."""
        identity = self._registry.identity(self._settings.identity)  # before the transaction: see Registry
        issuer_name = institution_name(identity, self._settings.institution_name)
        with transaction(self._sessions) as session:
            app = self._locked(session, application_pk)
            if app.stage not in (Stage.PAID.value, Stage.ISSUE_FAILED.value):
                self._operator_move(session, app, Event.ISSUE, actor, {})  # raises with the reason
            try:
                letter = self._render(app, identity, issuer_name)
            except Exception as exc:
                log.exception("issuing application %s failed", app.id)
                app.fail_reason = f"开函失败: {type(exc).__name__}"[:255]
                if app.stage == Stage.PAID.value:
                    self._move(session, app, Event.FAIL_ISSUE, actor, {"error": type(exc).__name__})
                    self._notify_status(session, app, "04", failReason=app.fail_reason)
                return app
            app.guarantee_id, app.issued_at = letter.guarantee_no, letter.issued_at
            app.valid_from, app.valid_to = letter.valid_from.astimezone(UTC), letter.valid_to.astimezone(UTC)
            app.file_id = self._files.put(session, letter.file_name, letter.pdf)
            app.file_name = letter.file_name
            self._move(session, app, Event.ISSUE, actor, {"guaranteeId": app.guarantee_id})
            self._notify_status(
                session,
                app,
                "03",
                guaranteeId=letter.guarantee_no,
                guaranteeAmt=money(app.amount),
                validTimeStart=wire_time(letter.valid_from),
                validTimeEnd=wire_time(letter.valid_to),
                letterOfTime=wire_time(letter.issued_at),
                companyName=app.supplier_name,  # fits: checked at the door (ISSUER_ECHOES)
            )
            return app

    def _render(self, app: Application, identity: Identity, issuer_name: str) -> _Issued:
        # Imported here: pyHanko and reportlab cost most of a second at start-up, and most runs never sign.
        from baohan.adapters.documents.letter import GuaranteeLetter, render_letter_pdf
        from baohan.adapters.documents.pdf_signature import sign_pdf

        if identity.certificate is None:
            raise OperatorError("our signing identity has no certificate")
        now = self._clock()
        start, end = validity(
            now,
            app.term_months,
            SHANGHAI,
            _wire_date(app.request.get("guaranteeStartDate")),
            _wire_date(app.request.get("guaranteeEndDate")),
        )
        guarantee_no = (
            app.guarantee_id or f"BH{now.astimezone(SHANGHAI):%Y%m%d}{secrets.token_hex(5).upper()}"
        )
        letter = GuaranteeLetter(
            guarantee_no=guarantee_no,
            issuer_name=issuer_name,
            beneficiary_name=app.purchaser_name,
            beneficiary_code=app.purchaser_code,
            principal_name=app.supplier_name,
            principal_code=app.supplier_code,
            amount=app.amount,
            valid_from=start,
            valid_to=end,
            project_code=app.project_code,
            project_name=app.project_name,
            bid_code=app.bid_code,
            bid_name=app.bid_name,
            issued_at=now,
            verification_code=sm3_hex(f"{guarantee_no}&{app.id}".encode())[:12].upper(),
        )
        chain = [identity.ca_certificate] if identity.ca_certificate is not None else []
        signed = sign_pdf(
            render_letter_pdf(letter), identity.key, identity.certificate, chain=chain, signing_time=now
        )
        return _Issued(guarantee_no, start, end, now, signed, f"保函文件{guarantee_no}.pdf")

    def decide_claim(
        self, claim_id: str, *, pay: bool, actor: str, amount: Decimal | None = None, reason: str = ""
    ) -> Claim:
        """Pay (ELY106 01, the guarantee is spent) or refuse (ELY106 02, it lives on) an open claim."""
        with transaction(self._sessions) as session:
            claim = session.get(Claim, claim_id, with_for_update=True)  # one decision, as for refunds
            if claim is None:
                raise OperatorError(f"no claim {claim_id}")
            if claim.status != "open":
                raise OperatorError(f"claim {claim_id} was already decided ({claim.status})")
            app = self._get(session, claim.application_pk)
            now = self._clock()
            claim.decided_at, claim.decision_reason = now, reason[:255] or None
            if pay:
                paid = amount if amount is not None else claim.claim_amount
                try:
                    check_claim_payment(paid, app.amount)
                except ClaimRefused as exc:
                    raise OperatorError(str(exc)) from None
                claim.status, claim.paid_amount, claim.paid_at = "paid", paid, now
                self._operator_move(session, app, Event.PAY_CLAIM, actor, {"amount": money(paid)})
                payload = {
                    "guaranteeId": app.guarantee_id,
                    "status": "01",
                    "paymentMoney": money(paid),
                    "paymentBeneficiarySocial": app.purchaser_code,
                    "paymentTime": wire_time(now),
                }
                # Optional, and 25 characters where ELY101 names the purchaser in 256: sent when it fits,
                # never cut (a cut name is another name); the platform knows its purchaser anyway.
                if len(app.purchaser_name) <= limit_of(
                    "ELY106", "paymentBeneficiary", self._limits(session, app.counterparty_id)
                ):
                    payload["paymentBeneficiary"] = app.purchaser_name
            else:
                claim.status = "refused"
                self._operator_move(session, app, Event.REFUSE_CLAIM, actor, {"reason": reason})
                payload = {"guaranteeId": app.guarantee_id, "status": "02"}
            self._notify(session, app, "ELY106", payload, f"{claim.id}:{payload['status']}")
            return claim

    def decide_refund(self, request_id: str, *, accept: bool, actor: str, reason: str = "") -> RefundRequest:
        """Accept (ELY102 07 cancelled / 08 surrendered) or refuse (06 / 09, with ``reason``) a waiting ELY109."""
        try:
            check_decision(accept=accept, reason=reason)
        except DecisionRefused as exc:
            raise OperatorError(str(exc)) from None
        with transaction(self._sessions) as session:
            # Locked: two operators deciding at once must not send both 08 and 09 (SQLite's writer is alone).
            request = session.get(RefundRequest, request_id, with_for_update=True)
            if request is None:
                raise OperatorError(f"no cancellation or surrender request {request_id}")
            if request.status != "pending":
                raise OperatorError(f"request {request_id} was already decided ({request.status})")
            app = self._get(session, request.application_pk)
            kind = RefundKind(request.kind)
            event, (ok_status, fail_status) = EVENTS[kind], _REFUND_STATUS[kind]
            request.decided_by, request.decided_at = actor[:100], self._clock()
            request.decision_reason = reason[:255] or None
            if accept:
                # The guarantee may have moved since (a claim opened, say): the lifecycle still decides.
                self._operator_move(
                    session, app, event, actor, {"reason": request.reason, "request": request.id}
                )
                request.status = "accepted"
                self._notify_status(session, app, ok_status)
            else:
                request.status = "refused"
                self._log(session, app, app.stage, f"{event.value}_refused", actor, {"why": reason})
                self._notify_status(session, app, fail_status, failReason=reason[:255], dedupe=request.id)
            return request

    # -- reading -----------------------------------------------------------------------------------------------

    def refund_requests(self, status: str | None = None) -> list[RefundRequest]:
        """ELY109 cancellations and surrenders sent to an operator, newest first, optionally with one status."""
        with self._sessions() as session:
            query = select(RefundRequest).order_by(RefundRequest.created_at.desc())
            if status:
                query = query.where(RefundRequest.status == status)
            return list(session.scalars(query))

    # -- internals ----------------------------------------------------------------------------------------------

    def _notify_status(
        self, session: Session, app: Application, status: str, *, dedupe: str | None = None, **fields: str
    ) -> None:
        try:
            payload = status_notice(
                app.application_id, status, limits=self._limits(session, app.counterparty_id), **fields
            )
        except MessageInvalid as exc:
            raise OperatorError(f"the ELY102 {status} notice cannot be sent: {exc}") from None
        outbox.enqueue(
            session,
            destination=app.counterparty_id,
            kind="ELY102",
            payload=payload,
            dedupe_key=status_key(app.id, status, dedupe),
            aggregate=app.id,
            deadline=self._settings.notice_deadline,
        )

    def _notify(
        self, session: Session, app: Application, kind: str, payload: dict[str, Any], key: str
    ) -> None:
        try:
            check_outgoing(kind, payload, self._limits(session, app.counterparty_id))
        except MessageInvalid as exc:
            raise OperatorError(f"the {kind} notice cannot be sent: {exc}") from None
        outbox.enqueue(
            session,
            destination=app.counterparty_id,
            kind=kind,
            payload=payload,
            dedupe_key=notice_key(app.id, key),
            aggregate=app.id,
            deadline=self._settings.notice_deadline,
        )


def institution_name(identity: Identity, claimed: str | None = None) -> str:
    """The name our letters carry: the one our signing certificate gives (its O, else its CN).

    OperatorError if there is no certificate, or ``claimed`` (``--institution-name``) is another name.
    """
    if identity.certificate is None:
        raise OperatorError("our signing identity has no certificate")
    named = identity.certificate.holder_name
    if claimed is not None and claimed != named:
        raise OperatorError(
            f"--institution-name {claimed!r} is not the name our signing certificate gives ({named!r})"
        )
    return named


def _check_echoes(request: Inbound, limits: Mapping[str, int]) -> None:
    """103 for an ELY101 whose id or supplier our ELY102 notices could not carry back to this platform."""
    try:
        check_echoes(request.payload, ISSUER_ECHOES, limits)
    except MessageInvalid as exc:
        raise ProtocolError(Code.INVALID, str(exc)) from None


def _wire_date(text: str | None) -> date | None:
    """A ``yyyyMMdd`` date from a stored ELY101 (validated on the way in), None when absent or empty."""
    return datetime.strptime(text, "%Y%m%d").date() if text else None
