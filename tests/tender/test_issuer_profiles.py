"""The issuer under a counterparty's profile: slices before the approval notice (upload_before_notice), one
file key and iv for every file (fixed_file_key), small slices, an SM3 file digest, ASCII project keys,
amounts as numbers. Over real HTTP on loopback against the recording platform of wire_peer.py."""

from __future__ import annotations

import re
from decimal import Decimal

from baohan.adapters.outbox import OutboxStatus
from baohan.protocols.tender import sealing
from tests.tender.issuer_kit import PLAIN_PROJECT, past, world
from tests.tender.role_kit import outbox_messages
from tests.tender.wire_peer import PLATFORM_KEY


def test_upload_before_notice_sends_the_slices_first(db_url: str) -> None:
    with world(db_url, upload_before_notice=True, slice_size=4096) as w:
        token, key = w.apply()
        w.agree(token, key)
        pk = w.app_pk()
        service = w.issuer.service
        app = service.approve(pk, rate=Decimal("0.005"), actor="op")
        w.deliver()
        assert w.received("baohannotice") == []  # held back until the slices are up
        service.record_payment(
            pk, amount=app.cost, actor="op", payer_name="某建设有限公司", payer_account="6222000011119999"
        )
        service.issue(pk, actor="op")
        w.deliver()
        order = [r.interface for r in w.platform.platform.handled]
        slices = order.count("uploadbaohanfile")
        assert slices > 1  # 4 KiB slices
        assert order.index("baohannotice") > max(
            i for i, name in enumerate(order) if name == "uploadbaohanfile"
        )
        assert order[-1] == "baohanfilecompletenotice"
        [notice] = w.received("baohannotice")
        assert notice.model.payername == "某建设有限公司" and notice.model.payeraccount == "6222000011119999"
        assert [r.model.index for r in w.received("uploadbaohanfile")] == list(range(1, slices + 1))
        assert service.application(pk).stage == "sealed_completed"


def test_fixed_file_key_uses_one_key_for_every_file(db_url: str) -> None:
    with world(db_url, fixed_file_key=True, file_digest="sm3") as w:
        w.issued("A-1")
        w.issued("A-2")
        w.call("baohanrestore", w.restore_fields("A-1", past()))
        w.deliver()
        done = w.received("baohanfilecompletenotice")
        assert len(done) == 3
        keys = {
            (
                sealing.open_file_secret(r.model.key, PLATFORM_KEY, "key"),
                sealing.open_file_secret(r.model.iv, PLATFORM_KEY, "iv"),
            )
            for r in done
        }
        assert len(keys) == 1
        assert all(len(r.model.baohanfilemd5) == 64 for r in done)  # SM3
        assert w.file("2", "A-1", digest="sm3")  # decrypts under the fixed key, its digest checked


def test_fresh_keys_by_default(db_url: str) -> None:
    with world(db_url) as w:
        w.issued("A-1")
        w.issued("A-2")
        done = w.received("baohanfilecompletenotice")
        keys = {sealing.open_file_secret(r.model.key, PLATFORM_KEY, "key") for r in done}
        assert len(keys) == 2
        # The platform's key was asked once for both (cached within its time to live).
        assert len(w.received("downloadpublickey")) == 1


def test_ascii_project_keys_and_amounts_as_numbers(db_url: str) -> None:
    ascii_key = b"Pr0jectKey-ASCII"
    with world(db_url, sm4_key_text="ascii", amounts_as_numbers=True) as w:
        pk = w.issued(project_key=ascii_key)
        [notice] = w.received("baohannotice")
        assert not isinstance(notice.fields["cost"], str) and notice.model.cost == Decimal("400.00")
        fields = {**w.restore_fields("A-1", past()), "key": ascii_key.decode()}
        w.call("baohanrestore", fields)
        w.deliver()
        app = w.issuer.service.application(pk)
        assert app.stage == "restored" and app.project_fields == PLAIN_PROJECT


def test_form_bodies_another_sign_method_and_layout(db_url: str) -> None:
    with world(db_url, body="form", sign="sm3-key", sm2_layout="c1c2c3", sm2_prefix=False) as w:
        pk = w.issued()
        assert w.issuer.service.application(pk).stage == "sealed_completed"
        assert w.file("1")


def test_a_completion_its_table_refuses_is_a_dead_letter_saying_why(db_url: str) -> None:
    # SM2 text in hex is 226 characters for a 16-byte key: more than the spec's 200 for key and iv.
    with world(db_url, encoding="hex") as w:
        pk = w.issued()
        assert w.issuer.service.application(pk).stage == "sealed_uploaded"
        assert w.received("baohanfilecompletenotice") == []  # never sent
        [dead] = outbox_messages(w.issuer.sessions, "tender.baohanfilecompletenotice")
        assert dead.status is OutboxStatus.DEAD
        assert re.search(r"baohanfilecompletenotice cannot be sent: (key|iv): ", dead.last_error or "")
