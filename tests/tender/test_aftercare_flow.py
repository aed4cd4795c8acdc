"""The issuer's aftercare over real HTTP on loopback, on SQLite and PostgreSQL: the platform's
invoiceapply, quitapply, canclenotice, claimsnotice and giveupapply answered (every refusal with its
reason), and the operators' decisions reaching the platform as invoicenotice, quitnotice and giveupnotice
through the real sender and outbox. The platform is tests/tender/wire_peer.py's recording endpoint until
the platform role lands."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderClaim, TenderClaimDocument, TenderGiveUp
from baohan.adapters.outbox import OutboxMessage, OutboxStatus
from baohan.domain.tender import TenderRefused
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.protocols.tender.wire import format_timestamp
from baohan.services.tender.aftercare import CLAIM_DUE, NotDue
from baohan.services.tender.claim_documents import CLAIM_DOCUMENT
from tests.tender.aftercare_kit import Stage, staged
from tests.tender.test_aftercare_documents import PROOF, files_url
from tests.tender.wire_peer import Recorder, channel, valid_fields

__all__ = ["files_url"]

PLATFORM = channel("AK-1")


def fields(interface: str, applyno: str, **changes: Any) -> dict[str, Any]:
    out = valid_fields(interface, applyno)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def messages(stage: Stage, kind: str) -> list[OutboxMessage]:
    with stage.ctx.sessions() as session:
        rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))
        session.expunge_all()
        return rows


def test_an_invoice_is_asked_then_issued_or_refused(sessions: sessionmaker[Session]) -> None:
    with staged(sessions, PLATFORM) as stage:
        sealed = stage.app("AK-1", "I-1", "sealed")
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "NOPE")) == (
            False,
            "applyno: no application NOPE",
        )
        ok, why = stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-1"))
        assert not ok and why.startswith("invoice request refused: ")
        assert stage.stage_of(sealed) == "sealed_completed"

        app = stage.app("AK-1", "I-2", "restored")
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-2", baohanno="G-X")) == (
            False,
            "baohanno: G-X is not the guarantee of application I-2",
        )
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-2", amount="499.99")) == (
            False,
            "amount: 499.99 is not the premium of guarantee G-I-2 (500.00)",
        )
        ok, why = stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-2", bank=None))
        assert not ok and "bank: required when type is 1 (专票)" in why
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-2")) == (True, "")
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-2")) == (True, "")  # replay
        assert stage.stage_of(app) == "invoice_requested"

        stage.aftercare.issue_invoice(app, actor="alice")
        assert stage.stage_of(app) == "invoiced"
        [shown] = stage.aftercare.records(app)["invoices"]
        assert (shown["status"], shown["invoice_no"], "token" in shown) == ("issued", "00000001", False)
        assert shown["request"]["biddername"] == "某建设有限公司" and "email" not in shown["request"]
        assert stage.deliver() == 1
        [notice] = stage.received("invoicenotice")
        assert notice["baohanno"] == "G-I-2" and notice["applystatus"] == "1"
        assert notice["invoiceno"] == "00000001" and len(notice["invoicecode"]) == 12
        prefix = "https://issuer.example/invoices/"
        assert notice["invoiceurl"].startswith(prefix)
        name, pdf = stage.aftercare.invoice_file(notice["invoiceurl"].removeprefix(prefix))
        assert pdf.startswith(b"%PDF") and name.endswith("-00000001.pdf")
        with pytest.raises(LookupError, match="no such invoice"):
            stage.aftercare.invoice_file("not-the-token-of-any-invoice")
        with pytest.raises(LookupError, match="no invoice requested"):
            stage.aftercare.issue_invoice(app, actor="alice")

        other = stage.app("AK-1", "I-3", "restored")
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-3", type="0")) == (True, "")
        with pytest.raises(ValueError, match="reason: a reason is required"):
            stage.aftercare.refuse_invoice(other, " ", actor="alice")
        stage.aftercare.refuse_invoice(other, "the buyer's code is unknown to the tax office", actor="alice")
        assert stage.stage_of(other) == "restored"  # another may be asked, under the same applyno
        assert stage.call(PLATFORM, "invoiceapply", **fields("invoiceapply", "I-3", type="0")) == (True, "")
        assert stage.stage_of(other) == "invoice_requested"
        assert stage.deliver() == 1
        assert stage.received("invoicenotice")[1] == {
            "appkey": "AK-1",
            "timestamp": stage.received("invoicenotice")[1]["timestamp"],
            "sign": stage.received("invoicenotice")[1]["sign"],
            "baohanno": "G-I-3",
            "applystatus": "0",
        }


def test_a_quit_only_before_the_bid_opens_then_decided(sessions: sessionmaker[Session]) -> None:
    with staged(sessions, PLATFORM) as stage:
        early = stage.app("AK-1", "Q-0", "agreed")
        ok, why = stage.call(PLATFORM, "quitapply", **fields("quitapply", "Q-0", baohanno=None))
        assert not ok and "baohanno" in why  # required by the model
        stage.app("AK-1", "Q-A", "approved")
        ok, why = stage.call(PLATFORM, "quitapply", **fields("quitapply", "Q-A", baohanno="G-Q-A"))
        assert (ok, why) == (False, "quit refused: only a paid guarantee can be quit, before the bid opens")
        late = stage.app("AK-1", "Q-9", "restored", opened_ago=timedelta(hours=2))
        ok, why = stage.call(PLATFORM, "quitapply", **fields("quitapply", "Q-9", baohanno="G-Q-9"))
        with stage.ctx.sessions() as session:
            opened = stage.ctx.store.get(session, late).kaibiaotime
        assert opened is not None
        assert (ok, why) == (False, f"quit refused: the bid opened at {format_timestamp(opened)} (北京时间)")
        assert stage.stage_of(late) == "restored" and stage.stage_of(early) == "agreed"

        app = stage.app("AK-1", "Q-1", "sealed")
        assert stage.call(PLATFORM, "quitapply", **fields("quitapply", "Q-1", baohanno="G-Q-1")) == (True, "")
        with pytest.raises(ValueError, match="reason: a reason is required"):
            stage.aftercare.decide_quit(app, accept=False, actor="alice")
        stage.aftercare.decide_quit(app, accept=False, actor="alice", reason="the premium is not refundable")
        assert stage.stage_of(app) == "sealed_completed"
        assert stage.deliver() == 1
        stage.asks_again("AK-1", "quitnotice", "Q-1")
        assert stage.call(
            PLATFORM, "quitapply", **fields("quitapply", "Q-1", baohanno="G-Q-1", reason="再次")
        ) == (
            True,
            "",
        )
        stage.aftercare.decide_quit(app, accept=True, actor="alice")
        assert stage.stage_of(app) == "quit"
        quits = stage.aftercare.records(app)["quits"]
        assert [(q["status"], q["reason"], q["decision_reason"]) for q in quits] == [
            ("refused", "项目终止", "the premium is not refundable"),
            ("accepted", "再次", None),
        ]
        with pytest.raises(LookupError, match="no quit waiting"):
            stage.aftercare.decide_quit(app, accept=True, actor="alice")
        assert stage.deliver() == 1
        refused, accepted = stage.received("quitnotice")
        assert (refused["applystatus"], "tuibaotime" in refused) == ("0", False)
        assert (accepted["applyno"], accepted["baohanno"], accepted["applystatus"]) == ("Q-1", "G-Q-1", "1")
        assert accepted["tuibaotime"]


def test_a_cancel_ends_an_issued_guarantee_where_the_platform_uses_it(
    sessions: sessionmaker[Session],
) -> None:
    silent = channel("AK-2", uses_cancel=False)
    with staged(sessions, PLATFORM, silent) as stage:
        other = stage.app("AK-2", "K-2", "sealed")
        assert stage.call(silent, "canclenotice", **fields("canclenotice", "K-2")) == (
            False,
            "canclenotice: this interface is not used with this platform",
        )
        assert stage.stage_of(other) == "sealed_completed"
        unissued = stage.app("AK-1", "K-0", "paid")
        ok, why = stage.call(PLATFORM, "canclenotice", **fields("canclenotice", "K-0"))
        assert (ok, why) == (False, "cancel refused: only an issued guarantee can be cancelled")
        assert stage.stage_of(unissued) == "paid"
        app = stage.app("AK-1", "K-1", "restored")
        assert stage.call(PLATFORM, "canclenotice", **fields("canclenotice", "K-1")) == (True, "")
        assert stage.stage_of(app) == "cancelled"


def _claim(stage: Stage, applyno: str, **changes: Any) -> tuple[bool, str]:
    return stage.call(PLATFORM, "claimsnotice", **fields("claimsnotice", applyno, **changes))


def test_a_claim_is_paid_on_first_demand_unless_stopped_before_it_is_due(
    sessions: sessionmaker[Session], files_url: str
) -> None:
    with staged(sessions, PLATFORM) as stage:
        unissued = stage.app("AK-1", "C-0", "paid")
        ok, why = _claim(stage, "C-0")
        assert not ok and why.startswith("claim refused: only an issued guarantee can be claimed on")
        app = stage.app("AK-1", "C-1", "sealed")
        assert _claim(stage, "C-1", payeramount="800000.01") == (
            False,
            "payeramount: 800000.01 is more than the guaranteed amount 800000.00",
        )
        ok, why = _claim(stage, "C-1", filelist='[{"fileurl":"ftp://platform.example/1.pdf"}]')
        assert not ok and why.startswith("filelist: 'ftp://platform.example/1.pdf' is not an http(s) URL")
        ok, why = _claim(stage, "C-1", filelist='{"fileurl": "x"}')
        assert not ok and "filelist" in why
        assert stage.stage_of(unissued) == "paid" and stage.stage_of(app) == "sealed_completed"

        # The documents are on an address nobody serves: the answer does not wait for them.
        files = json.dumps([{"fileurl": "http://127.0.0.1:9/a.pdf"}, {"fileurl": "http://127.0.0.1:9/b.pdf"}])
        assert _claim(stage, "C-1", filelist=files) == (True, "")
        assert stage.stage_of(app) == "claimed"
        assert len(messages(stage, CLAIM_DOCUMENT)) == 2
        [due] = messages(stage, CLAIM_DUE)
        assert due.deadline_at - due.next_attempt_at == timedelta(days=30)
        with stage.ctx.sessions() as session:
            claim = session.scalars(select(TenderClaim)).one()
            assert claim.request["applyusername"] == "李四" and str(claim.amount) == "10000.00"
            assert due.next_attempt_at == claim.due_at
            assert claim.due_at - claim.created_at == timedelta(hours=1)
        assert stage.deliver() == 2  # the fetches fail (and wait to be tried again); the payment waits
        with stage.ctx.sessions() as session:
            assert {d.state for d in session.scalars(select(TenderClaimDocument))} == {"failed"}
        [shown] = stage.aftercare.records(app)["claims"]
        assert [(d["number"], d["state"], d["attempts"]) for d in shown["documents"]] == [
            (1, "failed", 1),
            (2, "failed", 1),
        ]
        with pytest.raises(LookupError, match="no fetched claim document"):
            stage.aftercare.claim_document(shown["documents"][0]["id"])

        with pytest.raises(ValueError, match="reason: a reason is required"):
            stage.aftercare.stop_claim(app, "  ", actor="alice")
        stage.aftercare.stop_claim(app, "the bidder signed the contract after all", actor="alice")
        assert stage.stage_of(app) == "sealed_completed"
        with pytest.raises(LookupError, match="no open claim"):
            stage.aftercare.stop_claim(app, "again", actor="alice")
        stage.clock.shift = timedelta(hours=1, seconds=1)
        stage.deliver()
        assert stage.stage_of(app) == "sealed_completed"  # stopped: not paid
        [due] = messages(stage, CLAIM_DUE)
        assert due.status is OutboxStatus.DELIVERED

        paid = stage.app("AK-1", "C-2", "restored")
        proof = json.dumps([{"fileurl": f"{files_url}/proof.pdf"}])
        assert _claim(stage, "C-2", filelist=proof) == (True, "")
        with stage.ctx.sessions() as session:
            claim_id = session.scalars(select(TenderClaim).where(TenderClaim.status == "open")).one().id
        with pytest.raises(NotDue, match=f"claim {claim_id} is due at"):  # clocks apart: tried again
            stage.aftercare.pay_due_claim(claim_id)
        stage.clock.shift += timedelta(hours=1)
        with pytest.raises(TenderRefused, match="claim stop refused: the claim was due at"):
            stage.aftercare.stop_claim(paid, "too late", actor="alice")
        stage.deliver()
        assert stage.stage_of(paid) == "claim_paid"
        [shown] = stage.aftercare.records(paid)["claims"]
        assert (shown["status"], shown["decided_by"], shown["documents"][0]["state"]) == (
            "paid",
            "claim_due",
            "fetched",
        )
        assert stage.aftercare.claim_document(shown["documents"][0]["id"]) == ("proof.pdf", PROOF)
        assert _claim(stage, "C-1", reason="再次索赔", filelist=None) == (
            True,
            "",
        )  # the stop let it in again
        assert stage.stage_of(app) == "claimed"
        assert [event for event, _ in stage.history(paid)][-2:] == ["open_claim", "pay_claim"]


def test_a_give_up_asked_by_the_platform_only_while_nothing_is_issued(
    sessions: sessionmaker[Session],
) -> None:
    with staged(sessions, PLATFORM) as stage:
        app = stage.app("AK-1", "G-1", "agreed")
        assert stage.call(PLATFORM, "giveupapply", **fields("giveupapply", "G-1")) == (True, "")
        assert stage.stage_of(app) == "given_up"
        approved = stage.app("AK-1", "G-2", "approved")
        assert stage.call(PLATFORM, "giveupapply", **fields("giveupapply", "G-2")) == (
            False,
            "give-up refused: only an application not yet approved, issued or notified can be given up",
        )
        assert stage.stage_of(approved) == "approved"
        with stage.ctx.sessions() as session:
            kept = {(r.status, r.origin) for r in session.scalars(select(TenderGiveUp))}
        assert kept == {("accepted", "platform"), ("refused", "platform")}


class Refusing(Recorder):
    """A platform that refuses a give-up once the bidder is confirmed (applyno R-*)."""

    def handle(self, request: Inbound) -> Answer:
        if request.interface == "giveupnotice" and request.key.startswith("R-"):
            return Answer(False, "the bidder is already confirmed")
        return super().handle(request)


def test_our_give_up_respects_the_platforms_answer(sessions: sessionmaker[Session]) -> None:
    with staged(sessions, PLATFORM, platform=Refusing()) as stage:
        approved = stage.app("AK-1", "A-1", "approved")
        with pytest.raises(TenderRefused, match="give-up refused"):
            stage.aftercare.give_up(approved, actor="bidder")
        app = stage.app("AK-1", "A-2", "agreed")
        stage.aftercare.give_up(app, actor="bidder")
        assert stage.stage_of(app) == "agreed"  # until the platform accepts
        with pytest.raises(TenderRefused, match="one is already waiting for the platform's answer"):
            stage.aftercare.give_up(app, actor="bidder")
        refused = stage.app("AK-1", "R-1", "agreed")
        stage.aftercare.give_up(refused, actor="bidder")
        assert stage.deliver() == 2
        assert stage.stage_of(app) == "given_up"
        assert stage.stage_of(refused) == "agreed"
        assert stage.history(refused)[-1] == (
            "give_up_refused",
            {"reason": "the bidder is already confirmed"},
        )
        assert [m.status for m in messages(stage, "tender.giveupnotice")].count(OutboxStatus.DEAD) == 1
        with stage.ctx.sessions() as session:
            kept = {(r.status, r.message) for r in session.scalars(select(TenderGiveUp))}
        assert kept == {("accepted", None), ("refused", "the bidder is already confirmed")}

        # Accepted by the platform after the application moved on here: kept as an answer, in the history.
        moved = stage.app("AK-1", "A-3", "agreed")
        stage.aftercare.give_up(moved, actor="bidder")
        with transaction(stage.ctx.sessions) as session:
            app_row = stage.ctx.store.get(session, moved)
            stage.ctx.store.approve(
                session,
                app_row,
                baohanno="G-A-3",
                rate=Decimal("0.005"),
                cost=Decimal("500.00"),
                inst_name="某某担保有限公司",
                now=stage.clock(),
                actor="t",
            )
        assert stage.deliver() == 1
        assert stage.stage_of(moved) == "approved"
        event, detail = stage.history(moved)[-1]
        assert event == "give_up_late" and detail["reason"].startswith("give-up refused")
