"""The issuer's operator use cases and the bidder desk over the store, every refusal run for real (SQLite
and PostgreSQL): rejection notified, approval and payment and issue out of order, a wrong premium, a bid
already opened, a completion the platform refuses; tokens unknown or forged, a wrong K, signatures that do
not verify or come from a CA we do not trust."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from baohan.adapters.db.engine import transaction
from baohan.adapters.outbox import OutboxStatus
from baohan.domain.tender import TenderRefused
from baohan.protocols.tender.bidder import BidderError
from baohan.protocols.tender.client import TenderRefused as Refused
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.bidder_desk import DeskState, UnknownToken
from baohan.services.tender.files import GuaranteeFiles
from baohan.services.tender.issuer_desk import IssuerDesk
from baohan.services.tender.issuing import IssueError
from tests.tender.bidder_kit import make_bidder
from tests.tender.issuer_kit import INSTITUTION, World, application, world
from tests.tender.role_kit import outbox_messages


def _agreed(w: World, applyno: str = "A-1") -> str:
    token, key = w.apply(applyno)
    w.agree(token, key)
    return w.app_pk(applyno)


def test_rejection_is_notified_and_ends_the_application(db_url: str) -> None:
    with world(db_url) as w:
        pk = _agreed(w)
        app = w.issuer.service.reject(pk, actor="op", reason="资信不足")
        assert app.stage == "rejected"
        w.deliver()
        [notice] = w.received("baohannotice")
        assert notice.model.applystatus == "0" and notice.model.cost == Decimal("0.00")
        assert notice.model.instname == INSTITUTION and notice.model.baohanno == app.baohanno
        with pytest.raises(TenderRefused, match="approval refused"):
            w.issuer.service.approve(pk, rate=Decimal("0.005"), actor="op")


def test_use_cases_out_of_order_are_refused(db_url: str) -> None:
    with world(db_url) as w:
        service = w.issuer.service
        token, key = w.apply()
        pk = w.app_pk()
        with pytest.raises(IssueError, match="not opened by the bidder"):
            service.approve(pk, rate=Decimal("0.005"), actor="op")
        w.issuer.service.desk.accept_key(token, key.hex())
        with pytest.raises(TenderRefused, match="approval refused"):  # opened, the agreement not signed
            service.approve(pk, rate=Decimal("0.005"), actor="op")
        with pytest.raises(TenderRefused, match="payment refused"):
            service.record_payment(pk, amount=Decimal("400.00"), actor="op")
        with pytest.raises(IssueError, match="issued once paid"):
            service.issue(pk, actor="op")
        text = service.desk.agreement(token)
        signature = base64.b64encode(w.bidder.key.sign(text)).decode()
        service.desk.accept_signature(token, w.bidder.certificate.to_pem(), signature)
        app = service.approve(pk, rate=Decimal("0.005"), actor="op", baohanno="TB-0001")
        assert app.cost == Decimal("400.00") and app.baohanno == "TB-0001"
        with pytest.raises(IssueError, match=r"amount: 399\.99 is not the premium 400\.00"):
            service.record_payment(pk, amount=Decimal("399.99"), actor="op")
        with pytest.raises(ValueError, match="payername and payeraccount"):
            service.record_payment(pk, amount=Decimal("400.00"), actor="op", payer_name="某公司")
        service.record_payment(pk, amount=Decimal("400.00"), actor="op")
        ctx = w.issuer.context
        with transaction(ctx.sessions) as session:  # as if the bid's opening time were known and past
            ctx.store.get(session, pk).kaibiaotime = datetime.now(UTC) - timedelta(minutes=1)
        with pytest.raises(IssueError, match="the bid opened"):
            service.issue(pk, actor="op")
        assert outbox_messages(ctx.sessions, "tender.file_upload") == []


def test_a_refused_completion_refuses_the_file(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with world(db_url) as w:
        recorder = w.platform.platform
        handle = recorder.handle

        def refuse_completions(request: Inbound) -> Answer:
            if request.interface == "baohanfilecompletenotice":
                raise TenderError("baohanfilemd5: does not match the file")
            return handle(request)

        monkeypatch.setattr(recorder, "handle", refuse_completions)
        pk = _agreed(w)
        service = w.issuer.service
        app = service.approve(pk, rate=Decimal("0.005"), actor="op")
        service.record_payment(pk, amount=app.cost, actor="op")
        service.issue(pk, actor="op")
        w.deliver()
        [completion] = outbox_messages(w.issuer.sessions, "tender.baohanfilecompletenotice")
        assert completion.status is OutboxStatus.DEAD and "does not match" in (completion.last_error or "")
        ctx = w.issuer.context
        with ctx.sessions() as session:
            app = ctx.store.get(session, pk)
            row = GuaranteeFiles(ctx.box).get(session, app, "sealed")
            assert app.stage == "sealed_uploaded" and row is not None and row.state == "refused"


def test_the_desk_refuses_unknown_tokens_wrong_keys_and_bad_signatures(db_url: str) -> None:
    with world(db_url) as w:
        desk = w.issuer.service.desk
        token, key = w.apply()
        for bad in ("nope", token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x" * 300, ""):
            with pytest.raises(UnknownToken):
                desk.view(bad)
        with pytest.raises(BidderError, match="key: does not open applydata"):
            desk.accept_key(token, bytes(b ^ 0x55 for b in key).hex())
        with pytest.raises(BidderError, match="key: must be 32 hexadecimal"):
            desk.accept_key(token, "zz")
        with pytest.raises(BidderError, match="state: open the application"):
            desk.agreement(token)
        assert desk.view(token).state is DeskState.SEALED
        view = desk.accept_key(token, key.hex())
        assert view.state is DeskState.OPENED
        assert view.readable == {
            "biddername": "投标人甲建设有限公司",
            "biddercode": "91330106MA27XXXX0K",
            "bzjamount": "80000.00",
        }
        assert desk.accept_key(token, key.hex()).state is DeskState.OPENED  # again: nothing new
        text = desk.agreement(token)
        stranger = make_bidder("冒名投标人")  # a certificate from a CA we do not trust
        forged = base64.b64encode(stranger.key.sign(text)).decode()
        with pytest.raises(BidderError, match="certificate: is not issued by a trusted bidder CA"):
            desk.accept_signature(token, stranger.certificate.to_pem(), forged)
        with pytest.raises(BidderError, match="signature: does not verify"):
            desk.accept_signature(
                token, w.bidder.certificate.to_pem(), base64.b64encode(w.bidder.key.sign(b"other")).decode()
            )
        assert desk.view(token).state is DeskState.OPENED
        untrusting = IssuerDesk(w.issuer.context, institution=INSTITUTION, trusted=[])
        with pytest.raises(BidderError, match="trusts no bidder CA"):
            untrusting.accept_signature(token, w.bidder.certificate.to_pem(), forged)
        good = base64.b64encode(w.bidder.key.sign(text)).decode()
        assert desk.accept_signature(token, w.bidder.certificate.to_pem(), good).state is DeskState.SIGNED
        assert desk.accept_signature(token, w.bidder.certificate.to_pem(), good).state is DeskState.SIGNED


def test_paused_issuer_answers_paused_and_keeps_nothing(db_url: str) -> None:
    with world(db_url) as w:
        w.issuer.service.pause(True)
        fields, _ = application(w.bidder, "A-1")
        with pytest.raises(Refused, match="service paused"):
            w.call("baohanapply", fields)
        w.issuer.service.pause(False)
        assert w.call("baohanapply", fields)["redirecturl"]
