"""The tender platform end to end over real HTTP on SQLite and PostgreSQL: a bid section, the bidder's
submission sealed for their certificate, the institution's notice, our public key, the sealed guarantee
in slices out of order (a duplicate among them), its completion, bid opening restoring it, the plain one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from baohan.adapters import outbox
from baohan.protocols.tender.client import TenderRefused
from baohan.protocols.tender.sealing import open_application, open_envelope, open_project_field
from baohan.protocols.tender.wire import parse_timestamp
from baohan.services.tender.platform import PlatformError, premium
from baohan.services.tender.sections import BidSections
from tests.tender.platform_kit import (
    BIDDER_CERT,
    BIDDER_CODE,
    BIDDER_KEY,
    BZJ,
    PLAIN,
    PLATFORM_KEY,
    Platform,
    applied,
    approved,
    completion,
    encrypt,
    notice_fields,
    plain_ofd,
    platform,
    sealed_ofd,
    upload,
)


def _restores(p: Platform) -> list[outbox.OutboxMessage]:
    with p.runtime.sessions() as session:
        return list(
            session.scalars(
                select(outbox.OutboxMessage).where(outbox.OutboxMessage.kind == "tender.baohanrestore")
            )
        )


def test_premium_is_rate_times_the_bid_bond_in_cents() -> None:
    assert premium(Decimal("0.005"), Decimal("800000.00")) == Decimal("4000.00")
    assert premium(Decimal("0.0035"), Decimal("1234.57")) == Decimal("4.32")
    with pytest.raises(ValueError, match="rate"):
        premium(Decimal("1.5"), BZJ)


def test_a_guarantee_from_submission_to_restore(db_url: str) -> None:
    with platform(db_url) as p:
        section, applyno = applied(p)
        quotes = p.role.quotes(section, BIDDER_CODE)
        assert [(q.product, q.rate, q.premium, q.chosen) for q in quotes] == [
            ("投标保函", Decimal("0.005"), Decimal("4000.00"), True)
        ]
        # The institution got the application sealed for the bidder, the project fields sealed with P.
        (apply,) = p.institution.received("baohanapply")
        application = open_application(
            apply["applydata"], open_envelope(apply["digitalenvelope"], BIDDER_KEY)
        )
        assert application["biddercode"] == BIDDER_CODE and application["bzjamount"] == "800000.00"
        assert application["biaoduanno"] != PLAIN["biaoduanno"]
        assert p.role.redirect_url(applyno) == f"https://bank.example/open/{applyno}"

        baohanno = notice_fields(applyno)["baohanno"]
        p.institution.call("baohannotice", **notice_fields(applyno))
        assert p.role.application(applyno).stage == "approved"
        data = p.institution.call("downloadpublickey", applyno=applyno)
        assert data["publickey"] == PLATFORM_KEY.public_key.to_hex() and data["publickey"].startswith("04")

        sealed = sealed_ofd(p, applyno, baohanno)
        file = encrypt(sealed)
        assert len(file.slices) > 3
        upload(p, applyno, baohanno, file)
        done = completion(applyno, baohanno, file)
        p.institution.call("baohanfilecompletenotice", **done)
        p.institution.call("baohanfilecompletenotice", **done)  # a retry: answered the same, nothing new
        upload(p, applyno, baohanno, file, order=[1])  # a late duplicate slice: answered the same
        app = p.role.application(applyno)
        assert app.stage == "sealed_completed"
        # The restore waits for the bid's opening, in its own queue.
        (restore,) = _restores(p)
        assert restore.next_attempt_at == app.kaibiaotime
        assert p.deliver() == 0 and not p.institution.received("baohanrestore")

        (listed,) = p.role.sections_list()
        assert listed["id"] == section and listed["opened_at"] is None
        assert p.role.open_section_now(section) == 1
        assert p.role.sections_list()[0]["opened_at"] is not None
        with pytest.raises(PlatformError, match="already opened"):
            p.role.open_section_now(section)
        p.deliver()
        (sent,) = p.institution.received("baohanrestore")
        assert len(_restores(p)) == 1  # the early one replaced the scheduled one
        sections = BidSections(p.runtime.ground.box)
        with p.runtime.sessions() as session:
            key = sections.project_key(sections.get(session, section))
        assert sent["key"] == key.hex() and sent["baohanno"] == baohanno
        assert key.hex() not in json.dumps(_restores(p)[0].payload)  # sealed while it waited
        assert parse_timestamp(sent["kaibiaotime"]) <= datetime.now(UTC)
        assert open_project_field(application["zbr"], bytes.fromhex(sent["key"])) == PLAIN["zbr"]
        app = p.role.application(applyno)
        assert app.stage == "restoring" and app.project_fields is not None
        assert {k: v for k, v in app.project_fields.items() if k != "biaoduanno"} == {
            k: v for k, v in PLAIN.items() if k != "biaoduanno"
        }
        assert app.project_fields["biaoduanno"].startswith(PLAIN["biaoduanno"])

        plain = encrypt(plain_ofd(p, applyno, baohanno, sealed))
        upload(p, applyno, baohanno, plain, "2")
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, plain, "2"))
        assert p.role.application(applyno).stage == "restored"
        events = [e.event for e in p.role.history(applyno)]
        assert events == [
            "apply",
            "redirect",
            "approve",
            "upload_sealed",
            "complete_sealed",
            "restore",
            "complete_plain",
        ]


def test_a_replayed_request_is_answered_the_same_and_changes_nothing(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno = applied(p)
        p.institution.call("baohannotice", **notice_fields(applyno))
        p.institution.call("baohannotice", **notice_fields(applyno))  # a retry: the same answer
        assert [e.event for e in p.role.history(applyno)].count("approve") == 1
        with pytest.raises(TenderRefused, match="already used for a different"):
            p.institution.call("baohannotice", **{**notice_fields(applyno), "cost": "1.00"})


def test_a_submission_is_refused_naming_what_is_wrong(db_url: str) -> None:
    with platform(db_url) as p:
        section, _ = applied(p)
        quote = p.role.offer(section, BIDDER_CODE, p.institution_id, "另一产品", Decimal("0.004"), BZJ)
        assert [q.premium for q in p.role.quotes(section, BIDDER_CODE)] == [
            Decimal("3200.00"),
            Decimal("4000.00"),
        ]

        def submit(quote_id: str, certificate: str = BIDDER_CERT.to_pem()) -> None:
            p.role.submit(
                section,
                quote_id,
                bidder_name="x",
                bidder_code=BIDDER_CODE,
                bzj_amount=BZJ,
                certificate_pem=certificate,
            )

        with pytest.raises(PlatformError, match="certificate: not an SM2 certificate"):
            submit(quote.id, BIDDER_KEY.public_key.to_pem())
        with pytest.raises(PlatformError, match="already chose an offer"):
            submit(quote.id)
        with pytest.raises(
            PlatformError, match=r"bzjamount: the offer's premium 3200\.00 was made for another"
        ):
            p.role.submit(
                section,
                quote.id,
                bidder_name="x",
                bidder_code=BIDDER_CODE,
                bzj_amount=Decimal("1000.00"),
                certificate_pem=BIDDER_CERT.to_pem(),
            )
        with pytest.raises(PlatformError, match="quote: nope is not an offer"):
            submit("nope")
        p.role.open_section_now(section)
        with pytest.raises(PlatformError, match="opened at"):
            submit(quote.id)
        with pytest.raises(PlatformError, match="biddercode: at most 50"):
            p.role.submit(
                section, quote.id, bidder_name="x", bidder_code="9" * 51, bzj_amount=BZJ, certificate_pem=""
            )
        with pytest.raises(PlatformError, match=r"fields\.zbr: required"):
            p.role.add_section({"biaoduanno": "X-1", "biaoduanname": "y"}, datetime.now(UTC))
        with pytest.raises(PlatformError, match=r"fields\.zbrorgnum: too long"):
            p.role.add_section({**PLAIN, "biaoduanno": "X-2", "zbrorgnum": "9" * 200}, datetime.now(UTC))
        with pytest.raises(PlatformError, match="rate"):
            p.role.offer(section, BIDDER_CODE, p.institution_id, "x", Decimal("2"), BZJ)


def test_giveup_is_accepted_only_before_the_bidder_was_confirmed(db_url: str) -> None:
    with platform(db_url) as p:
        _, first = applied(p)
        p.institution.call("giveupnotice", applyno=first)
        assert p.role.application(first).stage == "given_up"
        _, second, _ = approved(p)
        with pytest.raises(TenderRefused, match="give-up refused"):
            p.institution.call("giveupnotice", applyno=second)
        with pytest.raises(TenderRefused, match="give-up refused"):  # remembered: the same answer again
            p.institution.call("giveupnotice", applyno=second)
        assert p.role.application(second).stage == "approved"
