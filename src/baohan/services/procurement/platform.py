"""The platform role (政府采购金融服务平台) of the procurement protocol.

It submits applications to institutions, follows each one from the notices they push (ELY102/106/108),
fetches and verifies every issued guarantee file (ELY103 then ELY104), and relays claims (ELY105),
invalidations (ELY107), cancellations and surrenders (ELY109). Outgoing messages go through the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters import outbox, personal
from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.db.tables import Application, Claim
from baohan.adapters.files import FileStore
from baohan.domain.claims import ClaimRefused, check_live
from baohan.domain.ids import new_id
from baohan.domain.lifecycle import Event, IllegalTransition, Stage
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.endpoint import Answer, Inbound
from baohan.protocols.procurement.tables import PLATFORM_ECHOES, check_echoes, check_lengths
from baohan.services.idempotency import Replays
from baohan.services.procurement.notices import content_hash
from baohan.services.procurement.registry import Registry, SessionFactory
from baohan.services.procurement.role import OperatorError, RoleService

SIDE = "platform"
SERVED = frozenset({"ELY102", "ELY106", "ELY108"})
FETCH = "fetch-guarantee"  # an internal outbox job: ELY103 then ELY104, then store
_STATUS_EVENTS = {
    "01": Event.APPROVE,
    "02": Event.REJECT,
    "03": Event.ISSUE,
    "04": Event.FAIL_ISSUE,
    "05": Event.PAY,
    "07": Event.CANCEL,
    "08": Event.SURRENDER,
}


class PlatformService(RoleService):
    """The platform: serves institutions' notices (as a router Endpoint) and the operator's actions."""

    side = SIDE
    served = SERVED

    def __init__(
        self,
        sessions: SessionFactory,
        registry: Registry,
        files: FileStore,
        *,
        deadline: timedelta = timedelta(days=3),
        clock: Callable[[], datetime] = utcnow,
        replays: Replays | None = None,
    ) -> None:
        super().__init__(sessions, registry, files, clock=clock, replays=replays)
        self._deadline = deadline

    # -- the router's Endpoint ----------------------------------------------------------------------------

    def handle(self, request: Inbound) -> Answer:
        """Apply one notice and record its answer, atomically."""
        handlers: dict[str, Callable[[Session, str, Any], Answer]] = {
            "ELY102": self._on_status,
            "ELY106": self._on_claim_result,
            "ELY108": self._on_cancellation,
        }
        return self._transact(request, handlers[request.transcode])

    def _on_status(self, session: Session, peer_id: str, msg: m.ELY102Request) -> Answer:
        app = session.scalars(
            select(Application).where(
                Application.side == SIDE,
                Application.counterparty_id == peer_id,
                Application.application_id == msg.applicationId,
            )
        ).first()
        if app is None:
            raise ProtocolError(Code.UNKNOWN_APPLICATION, f"applicationId: {msg.applicationId}")
        status = msg.applicationStatus.value
        event = _STATUS_EVENTS.get(status)
        detail: dict[str, Any] = {"applicationStatus": status}
        if msg.failReason:
            app.fail_reason = msg.failReason
            detail["failReason"] = msg.failReason
        if event is None:  # 06 cancel failed, 09 surrender failed: nothing moves, the reason is kept
            self._log(session, app, app.stage, f"status_{status}", "institution", detail)
            return Answer()
        if status == "05":
            app.paid_amount, app.pay_type = msg.payAmt, msg.payType.value if msg.payType else None
            app.paid_at = msg.payTime
        if status == "03":
            app.guarantee_id, app.valid_from, app.valid_to = (
                msg.guaranteeId,
                msg.validTimeStart,
                msg.validTimeEnd,
            )
            app.issued_at = msg.letterOfTime
            detail["guaranteeId"] = msg.guaranteeId
        try:
            self._move(session, app, event, "institution", detail)
        except IllegalTransition as exc:
            raise ProtocolError(Code.INVALID, f"applicationStatus: {exc}") from None
        if status == "03":
            outbox.enqueue(
                session,
                destination=app.counterparty_id,
                kind=FETCH,
                payload={"application": app.id},
                dedupe_key=f"{app.id}:{FETCH}",
                deadline=self._deadline,
            )
        return Answer()

    def _on_claim_result(self, session: Session, peer_id: str, msg: m.ELY106Request) -> Answer:
        app = self._by_guarantee_id(session, peer_id, msg.guaranteeId)
        claim = session.scalars(
            select(Claim)
            .where(Claim.application_pk == app.id, Claim.status.in_(["sent", "processing"]))
            .order_by(Claim.created_at.desc())
        ).first()
        if claim is None:
            # The guarantee exists (203 would say it does not): what is missing is a claim to answer.
            raise ProtocolError(
                Code.INVALID,
                f"guaranteeId: {msg.guaranteeId} has no open claim: no ELY105 of ours awaits a result",
            )
        status = msg.status.value
        if status == "00":
            claim.status = "processing"
            self._move_or_refuse(session, app, Event.OPEN_CLAIM, "institution", {"claim": claim.id})
            return Answer()
        claim.decided_at = self._clock()
        if status == "01":
            claim.status, claim.paid_amount, claim.paid_at = "paid", msg.paymentMoney, msg.paymentTime
            self._move_or_refuse(
                session, app, Event.PAY_CLAIM, "institution", {"paymentMoney": str(msg.paymentMoney)}
            )
        else:
            claim.status = "refused"
            self._move_or_refuse(session, app, Event.REFUSE_CLAIM, "institution", {})
        return Answer()

    def _on_cancellation(self, session: Session, peer_id: str, msg: m.ELY108Request) -> Answer:
        app = self._by_guarantee_id(session, peer_id, msg.guaranteeId)
        self._move_or_refuse(
            session,
            app,
            Event.INVALIDATE,
            "institution",
            {"cancelDate": msg.cancelDate.isoformat(), "cancelNotice": msg.cancelNotice},
        )
        return Answer()

    # -- operator actions -----------------------------------------------------------------------------------

    def submit(self, institution_id: str, fields: dict[str, Any], actor: str) -> Application:
        """Validate an ELY101 application and queue it for ``institution_id``; idempotent per applicationId.

        Refused (OperatorError naming the field) unless what our later messages carry back fits their own
        tables, as the institution's profile widens them: ELY103 takes the id, ELY105 the names and codes.
        """
        profile = self._registry.peer(institution_id).channel.profile
        msg = _valid("ELY101", fields, profile.limits)
        assert isinstance(msg, m.ELY101Request)
        wire = m.to_wire(msg)
        try:
            check_echoes(wire, PLATFORM_ECHOES, profile.limits)
        except m.MessageInvalid as exc:
            raise OperatorError(str(exc)) from None
        # Stored under the model's name; sent under the one the institution reads.
        sent = m.to_wire(msg, rename={"performanceBond": profile.amount_name})
        with transaction(self._sessions) as session:
            existing = session.scalars(
                select(Application).where(
                    Application.side == SIDE,
                    Application.counterparty_id == institution_id,
                    Application.application_id == msg.applicationId,
                )
            ).first()
            if existing is not None:
                if existing.content_hash == content_hash(wire):
                    return existing
                raise OperatorError(
                    f"applicationId {msg.applicationId} was already submitted with other content"
                )
            pk = new_id()
            app = Application(
                id=pk,
                side=SIDE,
                counterparty_id=institution_id,
                application_id=msg.applicationId,
                stage=Stage.REVIEW.value,
                content_hash=content_hash(wire),
                request=personal.seal(self._registry.box, wire, "applications", pk),
                supplier_code=msg.socialCreditCode,
                supplier_name=msg.supplier,
                purchaser_code=msg.purchaseSocCode,
                purchaser_name=msg.purchaseName,
                project_code=msg.projectCode,
                project_name=msg.projectName,
                bid_code=msg.bidCode,
                bid_name=msg.bidName,
                amount=msg.performanceBond,
                term_months=int(msg.guaranteeDate),
            )
            session.add(app)
            session.flush()
            self._log(session, app, None, "submit", actor, {})
            self._send(session, app, "ELY101", sent, "ELY101")
            return app

    def claim(self, key: str, fields: dict[str, Any], actor: str) -> Claim:
        """Raise a claim (ELY105) on a live guarantee; the claim's remaining fields come from the guarantee."""
        with transaction(self._sessions) as session:
            app = self._get(session, key)
            try:
                check_live(app.application_id, Stage(app.stage), app.guarantee_id)
            except ClaimRefused as exc:
                raise OperatorError(str(exc)) from None
            payload = {
                "guaranteeId": app.guarantee_id,
                "bidNum": app.bid_code,
                "projectName": app.project_name,
                "projectCode": app.project_code,
                "companyName": app.supplier_name,
                "socialCreditCode": app.supplier_code,
                "purchaseName": app.purchaser_name,
                "purchaseSocCode": app.purchaser_code,
                **fields,
            }
            msg = _valid("ELY105", payload, self._limits(session, app.counterparty_id))
            assert isinstance(msg, m.ELY105Request)
            claim = self._new_claim(session, app, msg, "sent")
            self._log(session, app, app.stage, "claim_sent", actor, {"claimAmount": str(msg.claimAmount)})
            self._send(session, app, "ELY105", m.to_wire(msg), f"ELY105:{claim.id}")
            return claim

    def invalidate(self, key: str, invalid_type: str, remark: str | None, actor: str) -> Application:
        """Tell the institution the guarantee is no longer needed (ELY107); ELY108 confirms the cancellation."""
        with transaction(self._sessions) as session:
            app = self._get(session, key)
            if app.stage != Stage.ISSUED.value:
                raise OperatorError(f"guarantee of {app.application_id} is not live (it is {app.stage})")
            payload = {
                "guaranteeId": app.guarantee_id,
                "invalidTime": self._clock().astimezone(m.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
                "invalidType": invalid_type,
            }
            if remark:
                payload["remark"] = remark
            _valid("ELY107", payload, self._limits(session, app.counterparty_id))
            self._log(session, app, app.stage, "invalidation_sent", actor, {"invalidType": invalid_type})
            self._send(session, app, "ELY107", payload, "ELY107")
            return app

    def refund(self, key: str, *, surrender: bool, reason: str | None, actor: str) -> Application:
        """Ask for an order cancellation (ELY109 02) or a surrender (01); the answer comes as ELY102."""
        with transaction(self._sessions) as session:
            app = self._get(session, key)
            payload = {"applicationId": app.application_id, "applicationType": "01" if surrender else "02"}
            if reason:
                payload["refundReason"] = reason
            _valid("ELY109", payload, self._limits(session, app.counterparty_id))
            self._log(session, app, app.stage, "surrender_sent" if surrender else "cancel_sent", actor, {})
            self._send(session, app, "ELY109", payload, f"ELY109:{uuid.uuid4().hex}")
            return app

    def store_verified_file(
        self, application_pk: str, name: str, content: bytes, verification: dict[str, Any]
    ) -> None:
        """Keep a fetched guarantee file with its ELY104 verification result."""
        with transaction(self._sessions) as session:
            app = self._get(session, application_pk)
            app.file_id = self._files.put(session, name, content)
            app.file_name, app.verification = name, verification
            self._log(
                session,
                app,
                app.stage,
                "file_verified" if verification.get("status") == "01" else "file_refused",
                "fetcher",
                verification,
            )

    # -- reading ----------------------------------------------------------------------------------------------

    def claims_of(self, key: str) -> list[Claim]:
        """The claims raised on one guarantee."""
        with self._sessions() as session:
            app = self._get(session, key)
            return list(
                session.scalars(
                    select(Claim).where(Claim.application_pk == app.id).order_by(Claim.created_at)
                )
            )

    # -- internals -------------------------------------------------------------------------------------------

    def _send(self, session: Session, app: Application, kind: str, payload: dict[str, Any], key: str) -> None:
        dedupe_key = f"{app.id}:{key}"
        outbox.enqueue(
            session,
            destination=app.counterparty_id,
            kind=kind,
            payload=personal.seal_message(self._registry.box, payload, dedupe_key),  # opened by the Sender
            dedupe_key=dedupe_key,
            aggregate=app.id,
            deadline=self._deadline,
        )


def _valid(transcode: str, payload: dict[str, Any], limits: Mapping[str, int]) -> Any:
    """The typed message an operator asked us to send, held to its own table as the institution's profile
    widens it; OperatorError naming the field if it cannot be sent."""
    try:
        check_lengths(transcode, payload, limits)
        return m.parse_request(transcode, payload)
    except m.MessageInvalid as exc:
        raise OperatorError(str(exc)) from None
