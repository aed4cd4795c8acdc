"""Quits, claims, give-ups, invoices and the signed agreement on SQLite and PostgreSQL: each kept with its
decision, each refused by the lifecycle with the reason, and a refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderApplication, TenderGiveUp, TenderQuit
from baohan.adapters.files import DatabaseFileStore
from baohan.domain.tender import Event, TenderRefused
from baohan.services.tender.requests import Requests
from baohan.services.tender.store import Applications
from tests.tender.store_fixtures import AFTER, BOX, NOW, SEALED_LINE, peers, sealed, walk

__all__ = ["peers"]

RESTORED_LINE = [*SEALED_LINE, Event.RESTORE, Event.COMPLETE_PLAIN]


def fresh(
    session: Session, issuer: Applications, peer: str, applyno: str, events: list[Event]
) -> TenderApplication:
    app, _ = issuer.add(session, peer, sealed(applyno), now=NOW, actor="K1")
    walk(issuer, session, app, events)
    return app


def test_a_quit_is_decided_before_the_bid_opens(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    requests = Requests(issuer)
    with transaction(sessions) as session:
        app = fresh(session, issuer, peers[0], "Q-1", SEALED_LINE)
        with pytest.raises(ValueError, match="reason: a reason is required"):
            requests.request_quit(session, app, " ", now=NOW, actor="K1")
        requests.request_quit(session, app, "the bidder withdraws", now=NOW, actor="K1")
        with pytest.raises(ValueError, match="reason: a reason is required"):
            requests.decide_quit(session, app, accept=False, now=NOW, actor="alice")
        refused = requests.decide_quit(
            session, app, accept=False, now=NOW, actor="alice", reason="no refund yet"
        )
        assert (refused.status, app.stage) == ("refused", "sealed_completed")
        requests.request_quit(session, app, "again", now=NOW, actor="K1")
        accepted = requests.decide_quit(session, app, accept=True, now=NOW, actor="alice")
        assert (accepted.status, accepted.quit_at, app.quit_at, app.stage) == ("accepted", NOW, NOW, "quit")
        with pytest.raises(LookupError, match="no quit waiting"):
            requests.decide_quit(session, app, accept=True, now=NOW, actor="alice")
        late = fresh(session, issuer, peers[0], "Q-2", RESTORED_LINE)
        with pytest.raises(TenderRefused, match="quit refused: the bid opened at 2026-12-01 09:30:00"):
            requests.request_quit(session, late, "too late", now=AFTER, actor="K1")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TenderQuit)) == 2


def test_a_claim_is_paid_when_due_or_stopped_with_a_reason(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    requests = Requests(issuer)
    urls = ["https://platform.example/claims/1.pdf", "https://platform.example/claims/2.pdf"]
    wait = timedelta(hours=24)
    with transaction(sessions) as session:
        early = fresh(session, issuer, peers[0], "C-0", SEALED_LINE[:3])
        with pytest.raises(TenderRefused, match="claim refused: only an issued guarantee"):
            requests.open_claim(
                session, early, request={}, amount=None, document_urls=[], wait=wait, now=AFTER, actor="K1"
            )
        app = fresh(session, issuer, peers[0], "C-1", RESTORED_LINE)
        with pytest.raises(ValueError, match="filelist: 'ftp://x' is not an http"):
            requests.open_claim(
                session,
                app,
                request={},
                amount=None,
                document_urls=["ftp://x"],
                wait=wait,
                now=AFTER,
                actor="K1",
            )
        claim = requests.open_claim(
            session,
            app,
            request={"applyusername": "张三"},
            amount=Decimal("800000.00"),
            document_urls=urls,
            wait=wait,
            now=AFTER,
            actor="K1",
        )
        assert requests.due_claims(session, AFTER + wait - timedelta(seconds=1)) == []
        assert [c.id for c in requests.due_claims(session, AFTER + wait)] == [claim.id]
        documents = requests.documents_to_fetch(session)
        assert [d.url for d in documents] == urls
        requests.fetch_failed(documents[0], "connection refused")
        kept = DatabaseFileStore().put(session, "2.pdf", b"%PDF-1.7 claim")
        requests.fetched(documents[1], kept, now=AFTER)
        retry = requests.documents_to_fetch(session)
        assert [(d.url, d.attempts, d.last_error) for d in retry] == [(urls[0], 1, "connection refused")]
        with pytest.raises(ValueError, match="reason: a reason is required"):
            requests.stop_claim(session, app, "", now=AFTER, actor="alice")
        stopped = requests.stop_claim(
            session, app, "the tenderer withdrew the claim", now=AFTER, actor="alice"
        )
        assert (stopped.status, stopped.decision_reason, app.stage) == (
            "stopped",
            "the tenderer withdrew the claim",
            "restored",
        )
        again = requests.open_claim(
            session, app, request={}, amount=None, document_urls=[], wait=wait, now=AFTER, actor="K1"
        )
        assert requests.pay_claim(session, app, now=AFTER + wait, actor="scheduler").id == again.id
        assert app.stage == "claim_paid"
        with pytest.raises(LookupError, match="no open claim"):
            requests.pay_claim(session, app, now=AFTER + wait, actor="scheduler")


def test_give_ups_each_way(sessions: sessionmaker[Session], peers: tuple[str, str]) -> None:
    issuer = Applications("issuer", BOX)
    requests = Requests(issuer)
    with transaction(sessions) as session:
        open_app = fresh(session, issuer, peers[0], "G-1", [])
        approved = fresh(session, issuer, peers[0], "G-2", SEALED_LINE[:2])
        accepted = requests.give_up_asked(session, open_app, now=NOW, actor="K1")
        refused = requests.give_up_asked(session, approved, now=NOW, actor="K1")
        assert (accepted.status, open_app.stage) == ("accepted", "given_up")
        assert (refused.status, approved.stage) == ("refused", "approved")
        assert refused.message is not None and "give-up refused" in refused.message
        # Ours: the platform decides; its refusal leaves the application as it was.
        ours = fresh(session, issuer, peers[0], "G-3", [Event.AGREE])
        with pytest.raises(TenderRefused, match="give-up refused"):
            requests.give_up_sent(session, approved, now=NOW)
        first = requests.give_up_sent(session, ours, now=NOW)
        requests.give_up_answered(
            session, first, accepted=False, message="already confirmed", now=NOW, actor="K1"
        )
        assert (first.status, first.message, ours.stage) == ("refused", "already confirmed", "agreed")
        with pytest.raises(ValueError, match="was already refused"):
            requests.give_up_answered(session, first, accepted=True, message=None, now=NOW, actor="K1")
        second = requests.give_up_sent(session, ours, now=NOW)
        requests.give_up_answered(session, second, accepted=True, message=None, now=NOW, actor="K1")
        assert (second.status, ours.stage) == ("accepted", "given_up")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(TenderGiveUp)) == 4


def test_an_invoice_after_restore(sessions: sessionmaker[Session], peers: tuple[str, str]) -> None:
    issuer = Applications("issuer", BOX)
    requests = Requests(issuer)
    with transaction(sessions) as session:
        sealed_only = fresh(session, issuer, peers[0], "I-0", SEALED_LINE)
        with pytest.raises(TenderRefused, match="invoice request refused"):
            requests.request_invoice(
                session, sealed_only, request={}, amount=Decimal(4000), now=AFTER, actor="K1"
            )
        app = fresh(session, issuer, peers[0], "I-1", RESTORED_LINE)
        with pytest.raises(ValueError, match=r"amount: amount 1\.001 has more"):
            requests.request_invoice(session, app, request={}, amount=Decimal("1.001"), now=AFTER, actor="K1")
        requests.request_invoice(
            session, app, request={"type": "0"}, amount=Decimal("4000.00"), now=AFTER, actor="K1"
        )
        requests.refuse_invoice(session, app, "tax service down", now=AFTER, actor="alice")
        assert app.stage == "restored"
        requests.request_invoice(
            session, app, request={"type": "0"}, amount=Decimal("4000.00"), now=AFTER, actor="K1"
        )
        with pytest.raises(ValueError, match="invoiceurl: must be an http"):
            requests.issue_invoice(
                session, app, url="file:///x", code=None, number=None, file_id=None, now=AFTER, actor="a"
            )
        invoice = requests.issue_invoice(
            session,
            app,
            url="https://issuer.example/invoices/1.pdf",
            code="033001",
            number="00000001",
            file_id=None,
            now=AFTER,
            actor="invoicer",
        )
        assert (invoice.status, invoice.invoice_no, app.stage) == ("issued", "00000001", "invoiced")
        with pytest.raises(LookupError, match="no invoice requested"):
            requests.refuse_invoice(session, app, "x", now=AFTER, actor="a")


def test_the_signed_agreement_is_kept(sessions: sessionmaker[Session], peers: tuple[str, str]) -> None:
    issuer = Applications("issuer", BOX)
    with transaction(sessions) as session:
        app = fresh(session, issuer, peers[0], "S-1", [])
        with pytest.raises(ValueError, match="certificate and signature are both required"):
            issuer.record_agreement(
                session, app, certificate_pem="", signature="x", file_id="f", now=NOW, actor="b"
            )
        file_id = DatabaseFileStore().put(session, "agreement.txt", "保函申请协议".encode())
        pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        issuer.record_agreement(
            session, app, certificate_pem=pem, signature="MEUCIQ==", file_id=file_id, now=NOW, actor="bidder"
        )
        assert app.stage == "agreed" and app.bidder_certificate_pem == pem
        app_id = app.id
    with sessions() as session:
        app = issuer.get(session, app_id)
        agreement = issuer.agreement(session, app)
        assert agreement is not None and (agreement.signature, agreement.file_id) == ("MEUCIQ==", file_id)


def test_the_platform_decides_a_give_up_until_the_bidder_is_confirmed(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    platform = Applications("platform", BOX)
    requests = Requests(platform)
    with transaction(sessions) as session:
        waiting, _ = platform.add(session, peers[0], sealed("P-1"), now=NOW, actor="bidder")
        confirmed, _ = platform.add(session, peers[0], sealed("P-2"), now=NOW, actor="bidder")
        platform.move(session, confirmed, Event.APPROVE, now=NOW, actor="K1")  # baohannotice applystatus 1
        accepted = requests.give_up_asked(session, waiting, now=NOW, actor="K1")
        refused = requests.give_up_asked(session, confirmed, now=NOW, actor="K1")
        assert [(r.origin, r.status) for r in (accepted, refused)] == [
            ("issuer", "accepted"),
            ("issuer", "refused"),
        ]
        assert (waiting.stage, confirmed.stage) == ("given_up", "approved")
        # The bidder gives up on the platform: giveupapply goes to the institution.
        third, _ = platform.add(session, peers[0], sealed("P-3"), now=NOW, actor="bidder")
        assert requests.give_up_sent(session, third, now=NOW).origin == "platform"
