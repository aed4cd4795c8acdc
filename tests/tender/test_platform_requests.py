"""The platform's requests to institutions and their answers, over real HTTP on SQLite and PostgreSQL:
quit and the institution's quitnotice, cancel (only when the profile takes it), claim with its file list,
give-up (a refusal respected), invoice and invoicenotice; and the restore sent when the bid opens."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from baohan.protocols.tender.client import TenderRefused
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.platform import PlatformError
from tests.tender.platform_kit import (
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


def issued(p: Platform, *, opens_in: timedelta = timedelta(days=1)) -> tuple[str, str, str, bytes]:
    """An application whose sealed guarantee is complete: (section, applyno, baohanno, sealed OFD)."""
    section, applyno, baohanno = approved(p, opens_in=opens_in)
    sealed = sealed_ofd(p, applyno, baohanno)
    file = encrypt(sealed)
    upload(p, applyno, baohanno, file)
    p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, file))
    return section, applyno, baohanno, sealed


def test_a_quit_goes_to_the_institution_and_its_notice_says_when(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, baohanno, _ = issued(p)
        with pytest.raises(TenderRefused, match="has no quit waiting"):
            p.institution.call("quitnotice", applyno=applyno, baohanno=baohanno, applystatus="0")
        p.role.quit(applyno, "项目终止")
        p.deliver()  # not held up by the restore waiting for the opening
        (sent,) = p.institution.received("quitapply")
        assert sent["reason"] == "项目终止" and sent["baohanno"] == baohanno
        p.institution.call("quitnotice", applyno=applyno, baohanno=baohanno, applystatus="0")
        assert p.role.application(applyno).stage == "sealed_completed"
        # quitnotice is keyed by applyno: one decision per application
        _, second, number, _ = issued(p)
        p.role.quit(second, "再次申请")
        p.institution.call(
            "quitnotice", applyno=second, baohanno=number, applystatus="1", tuibaotime="2026-11-30 11:00:00"
        )
        applyno = second
        app = p.role.application(applyno)
        assert app.stage == "quit" and app.quit_at is not None
        assert app.quit_at.isoformat().startswith("2026-11-30T03:00:00")
        with pytest.raises(PlatformError, match="refused"):
            p.role.quit(applyno, "again")


def test_cancel_only_when_the_profile_takes_it(db_url: str) -> None:
    with platform(db_url, uses_cancel=False) as p:
        _, applyno, _, _ = issued(p)
        with pytest.raises(PlatformError, match="does not take canclenotice"):
            p.role.cancel(applyno)
        assert p.role.application(applyno).stage == "sealed_completed"


def test_cancel_goes_for_an_issued_guarantee(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, baohanno, _ = issued(p)
        _, early = applied(p)
        with pytest.raises(PlatformError, match="cancel refused"):
            p.role.cancel(early)
        p.role.cancel(applyno)
        p.deliver()
        (sent,) = p.institution.received("canclenotice")
        assert sent["baohanno"] == baohanno and p.role.application(applyno).stage == "cancelled"


def test_a_claim_carries_its_file_list(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, _, _ = issued(p)
        with pytest.raises(PlatformError, match="applyuserphone: required"):
            p.role.claim(applyno, applyusername="李四", applyuserphone=" ")
        urls = ["https://platform.example/f/1.pdf", "https://platform.example/f/2.pdf"]
        p.role.claim(
            applyno, applyusername="李四", applyuserphone="13900000000", reason="拒签合同", file_urls=urls
        )
        p.deliver()
        (sent,) = p.institution.received("claimsnotice")
        assert [item["fileurl"] for item in json.loads(sent["filelist"])] == urls
        assert sent["applyusername"] == "李四" and p.role.application(applyno).stage == "claimed"
        (event,) = [e for e in p.role.history(applyno) if e.event == "open_claim"]
        assert event.detail == {"reason": "拒签合同", "documents": urls}  # no personal field kept


def test_a_give_up_refused_by_the_institution_leaves_the_application_as_it_was(db_url: str) -> None:
    with platform(db_url) as p:
        _, accepted = applied(p)
        p.role.give_up(accepted)
        p.deliver()
        assert p.role.application(accepted).stage == "given_up"
        _, refused = applied(p)
        p.role.give_up(refused)
        p.institution.recorder.fail_with = TenderError("giveup refused: the guarantee is being issued")
        p.deliver()
        assert p.role.application(refused).stage == "applied"
        _, approved_no, _ = approved(p)
        with pytest.raises(PlatformError, match="give-up refused"):
            p.role.give_up(approved_no)


def test_an_invoice_is_asked_once_restored_and_its_notice_recorded(db_url: str) -> None:
    with platform(db_url) as p:
        section, applyno, baohanno, sealed = issued(p)
        with pytest.raises(PlatformError, match="address, phone, bank, account: required"):
            p.role.invoice(applyno, {"type": "1"})
        with pytest.raises(PlatformError, match="invoice request refused"):
            p.role.invoice(applyno, {"type": "0"})
        p.role.open_section_now(section)
        p.deliver()
        plain = encrypt(plain_ofd(p, applyno, baohanno, sealed))
        upload(p, applyno, baohanno, plain, "2")
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, plain, "2"))
        p.role.invoice(applyno, {"type": "0", "email": "finance@example.com"})
        p.deliver()
        (sent,) = p.institution.received("invoiceapply")
        assert sent["amount"] == "4000.00" and sent["type"] == "0" and sent["email"] == "finance@example.com"
        with pytest.raises(TenderRefused, match="invoiceurl: required"):
            p.institution.call("invoicenotice", baohanno=baohanno, applystatus="1")
        url = "https://bank.example/invoice/1.pdf"
        p.institution.call(
            "invoicenotice", baohanno=baohanno, invoiceurl=url, invoiceno="12345678", applystatus="1"
        )
        assert p.role.application(applyno).stage == "invoiced"
        with pytest.raises(TenderRefused, match="baohanno: G-nope is not a guarantee"):
            p.institution.call("invoicenotice", baohanno="G-nope", applystatus="0")


def test_the_restore_goes_when_the_bid_opens(db_url: str) -> None:
    with platform(db_url) as p:
        section, applyno, baohanno, _ = issued(p, opens_in=timedelta(seconds=3))
        assert p.deliver() == 0
        time.sleep(3.2)
        assert p.role.open_section_now(section) == 0  # open already: the scheduled restore is due
        p.deliver()
        (sent,) = p.institution.received("baohanrestore")
        assert sent["applyno"] == applyno and sent["baohanno"] == baohanno
        assert p.role.application(applyno).stage == "restoring"


def test_a_refused_restore_is_tried_again(db_url: str) -> None:
    with platform(db_url) as p:
        section, applyno, _, _ = issued(p)
        p.role.open_section_now(section)
        p.institution.recorder.fail_with = TenderError(
            "restore refused: the bid opens at 2026-12-01 09:30:00"
        )
        p.deliver()
        assert p.role.application(applyno).stage == "sealed_completed"
        p.institution.recorder.fail_with = None
        deadline = time.monotonic() + 10
        while not p.institution.received("baohanrestore") and time.monotonic() < deadline:
            time.sleep(0.1)
            p.deliver()
        assert p.role.application(applyno).stage == "restoring"


def test_ascii_project_keys_for_institutions_that_take_them(db_url: str) -> None:
    with platform(db_url, sm4_key_text="ascii") as p:
        with pytest.raises(PlatformError, match="key: this institution takes the project key as ASCII"):
            applied(p)
        section, applyno = applied(p, key_text="ascii")
        fields = notice_fields(applyno)
        p.institution.call("baohannotice", **fields)
        baohanno = fields["baohanno"]
        file = encrypt(sealed_ofd(p, applyno, baohanno))
        upload(p, applyno, baohanno, file)
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, file))
        p.role.open_section_now(section)
        p.deliver()
        (sent,) = p.institution.received("baohanrestore")
        assert len(sent["key"]) == 16 and sent["key"].isalnum()


def test_slices_before_the_notice_when_the_profile_says_so(db_url: str) -> None:
    with platform(db_url, upload_before_notice=True) as p:
        _, applyno = applied(p)
        baohanno = notice_fields(applyno)["baohanno"]
        file = encrypt(b"%PDF-not-yet-an-ofd" * 500)
        upload(p, applyno, baohanno, file)
        with pytest.raises(TenderRefused, match=r"baohanno: .* not yet notified"):
            p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, file))
        _, second = applied(p)
        p.institution.call("baohannotice", **notice_fields(second))
        with pytest.raises(TenderRefused, match="baohanno: G-x is not this application's"):
            upload(p, second, "G-x", file, order=[1])


def test_requests_the_institution_refuses_are_kept_with_its_reason(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, _, _ = issued(p)
        p.institution.recorder.fail_with = TenderError("quitapply refused: not this one")
        p.role.quit(applyno, "项目终止")
        p.deliver()
        assert p.role.application(applyno).stage == "sealed_completed"
        (refused,) = [e for e in p.role.history(applyno) if e.event == "refused"]
        assert refused.detail == {"interface": "quitapply", "message": "quitapply refused: not this one"}
        p.institution.recorder.fail_with = None
        # (the dead quitapply holds the application's later requests until an operator retries it)
        section, applyno, baohanno, sealed = issued(p)
        p.role.open_section_now(section)
        p.deliver()
        plain = encrypt(plain_ofd(p, applyno, baohanno, sealed))
        upload(p, applyno, baohanno, plain, "2")
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, plain, "2"))
        p.institution.recorder.fail_with = TenderError("invoiceapply refused: no invoices today")
        p.role.invoice(applyno, {"type": "0"})
        p.deliver()
        assert p.role.application(applyno).stage == "restored"  # another may be asked
