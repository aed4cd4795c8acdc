"""The tender issuer end to end over real HTTP on loopback, on SQLite and PostgreSQL: baohanapply stored
sealed and answered with the bidder's page, the bidder opens and signs, approval notified, payment
recorded, the sealed guarantee issued, uploaded in slices and completed with its key sealed for the
platform's key (fetched by downloadpublickey), then baohanrestore and the plain guarantee the same way.

The platform is the recording endpoint of tests/tender/wire_peer.py until the real platform role lands.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from baohan.adapters.documents.ofd import read_attachments, verify_ofd
from baohan.adapters.documents.tender_guarantee import CERTIFICATE_FILE, SEALED_FILE, SIGNATURE_FILE
from baohan.protocols.tender.client import TenderRefused
from baohan.services.tender.bidder_desk import DeskState
from tests.tender.issuer_kit import (
    APPKEY,
    PLAIN_PROJECT,
    PROJECT_KEY,
    PUBLIC_URL,
    application,
    past,
    platform_channel,
    world,
)
from tests.tender.wire_peer import PLATFORM_KEY


def _ofd_text(ofd: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(ofd)) as package:
        return "".join(
            package.read(n).decode("utf-8", "replace") for n in package.namelist() if n.endswith(".xml")
        )


def test_apply_answers_the_bidder_page_once_per_applyno(db_url: str) -> None:
    with world(db_url) as w:
        fields, _ = application(w.bidder, "A-1")
        url = w.call("baohanapply", fields)["redirecturl"]
        assert url.startswith(PUBLIC_URL + "/bidder/") and len(url) <= 500
        assert w.call("baohanapply", fields)["redirecturl"] == url  # a replay: the same answer
        token = url.rsplit("/", 1)[1]
        view = w.issuer.service.desk.view(token)
        assert view.state is DeskState.SEALED and view.applydata == fields["applydata"]
        other, _ = application(w.bidder, "A-1")  # the same applyno, other content
        with pytest.raises(TenderRefused, match="applyno: A-1 was already used for a different baohanapply"):
            w.call("baohanapply", other)
        second, _ = application(w.bidder, "A-2")
        assert w.call("baohanapply", second)["redirecturl"] != url
        assert w.received("baohannotice") == []  # an application alone notifies nothing


def test_a_wrong_sign_is_refused_before_anything(db_url: str) -> None:
    with world(db_url) as w:
        fields, _ = application(w.bidder, "A-1")
        with pytest.raises(TenderRefused, match="sign: does not match"):
            w.call("baohanapply", fields, platform_channel(appsecret="not-the-secret"))
        with w.issuer.sessions() as session:
            assert w.issuer.context.store.by_applyno(session, w.issuer.registry.peers()[0].id, "A-1") is None


def test_the_whole_line_sealed_then_restored(db_url: str) -> None:
    with world(db_url) as w:
        pk = w.issued()
        app = w.issuer.service.application(pk)
        assert app.stage == "sealed_completed"
        [notice] = w.received("baohannotice")
        assert notice.model.applystatus == "1" and notice.model.rate == Decimal("0.005")
        assert notice.model.cost == Decimal("400.00") and notice.model.baohanno == app.baohanno
        assert notice.model.payername is None  # the notice went out at approval, before any payment
        # The platform's key was asked for and replaced the stale one registered.
        assert len(w.received("downloadpublickey")) == 1
        peer = w.issuer.registry.peer_by_appkey(APPKEY)
        assert peer is not None and peer.channel.peer_key is not None
        assert peer.channel.peer_key.to_bytes() == PLATFORM_KEY.public_key.to_bytes()
        sealed = w.file("1")
        assert verify_ofd(sealed).valid
        assert all(value not in _ofd_text(sealed) for value in PLAIN_PROJECT.values())
        names = {a.file_name for a in read_attachments(sealed)}
        assert {"agreement.txt", SIGNATURE_FILE, CERTIFICATE_FILE} <= names

        # Restore: refused before the bid opens and with a wrong key (nothing changes), then done.
        future = datetime.now(UTC) + timedelta(hours=1)
        with pytest.raises(TenderRefused, match="restore refused: the bid opens at"):
            w.call("baohanrestore", w.restore_fields("A-1", future))
        wrong = bytes(b ^ 0x5A for b in PROJECT_KEY)
        with pytest.raises(TenderRefused, match="key: does not open the project fields"):
            w.call("baohanrestore", w.restore_fields("A-1", past(), wrong))
        with pytest.raises(TenderRefused, match="key: must be 32 hex characters"):
            w.call("baohanrestore", {**w.restore_fields("A-1", past()), "key": "not-a-key"})
        with pytest.raises(TenderRefused, match="baohanno: G-X is not the guarantee of application A-1"):
            w.call("baohanrestore", {**w.restore_fields("A-1", past()), "baohanno": "G-X"})
        app = w.issuer.service.application(pk)
        assert (
            app.stage == "sealed_completed" and app.project_fields is None and app.project_key_sealed is None
        )

        w.call("baohanrestore", w.restore_fields("A-1", past()))
        w.deliver()
        app = w.issuer.service.application(pk)
        assert app.stage == "restored" and app.project_fields == PLAIN_PROJECT
        assert w.issuer.context.store.project_key(app) == PROJECT_KEY
        plain = w.file("2")
        assert verify_ofd(plain).valid
        assert all(value in _ofd_text(plain) for value in PLAIN_PROJECT.values())
        [inner] = [a for a in read_attachments(plain) if a.file_name == SEALED_FILE]
        assert inner.data == sealed  # the sealed guarantee embedded unchanged


def test_outbox_retries_send_the_same_requests(db_url: str) -> None:
    with world(db_url) as w:
        pk = w.issued()
        # Every request the platform got was answered once: a second delivery of any would be a replay.
        keys = [(r.interface, r.key) for r in w.platform.platform.handled]
        assert len(keys) == len(set(keys))
        completion = w.received("baohanfilecompletenotice")
        assert [r.model.filetype for r in completion] == ["1"]
        assert w.issuer.pending() == 0
        assert w.issuer.service.application(pk).stage == "sealed_completed"
