"""The issuer's upload job when things go wrong halfway, and its seal: a slice that fails on the way
retries the whole job (the platform answers the slices it has as before; one completion in the end); a
platform key that is not an SM2 key is a dead letter; a configured seal is used only when it lists our
certificate. Real HTTP on loopback against the recording platform of wire_peer.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from baohan.adapters.documents.ofd import SealSpec, draw_seal, make_seal, verify_ofd
from baohan.adapters.outbox import PermanentFailure
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.services.registry import Identity
from baohan.services.tender.seals import Seals, SealUnavailable
from tests.tender.issuer_kit import INSTITUTION, World, world
from tests.tender.role_kit import outbox_messages


def _paid_and_issued(w: World) -> str:
    token, key = w.apply()
    w.agree(token, key)
    pk = w.app_pk()
    service = w.issuer.service
    app = service.approve(pk, rate=Decimal("0.005"), actor="op")
    service.record_payment(pk, amount=app.cost, actor="op")
    service.issue(pk, actor="op")
    return pk


def test_a_slice_failing_on_the_way_retries_the_job_and_each_slice_arrives_once(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world(db_url, slice_size=2048) as w:
        recorder = w.platform.platform
        handle = recorder.handle
        failed: list[int] = []

        def flaky(request: Inbound) -> Answer:
            if request.interface == "uploadbaohanfile" and request.model.index == 3 and not failed:
                failed.append(3)
                raise RuntimeError("disk full, for a moment")  # answered "internal error": retry
            return handle(request)

        monkeypatch.setattr(recorder, "handle", flaky)
        pk = _paid_and_issued(w)
        w.deliver()  # the first attempt fails at slice 3, the retry sends every slice again
        assert failed == [3]
        [job] = outbox_messages(w.issuer.sessions, "tender.file_upload")
        assert job.attempts == 2
        w.issuer.courier(job)  # once more by hand: nothing new, the file is uploaded
        indexes = [r.model.index for r in w.received("uploadbaohanfile")]
        assert indexes == list(range(1, len(indexes) + 1)) and len(indexes) > 3  # each handled once
        assert len(w.received("baohanfilecompletenotice")) == 1
        assert w.issuer.service.application(pk).stage == "sealed_completed"
        assert verify_ofd(w.file("1")).valid


def test_a_platform_key_that_is_no_key_is_a_dead_letter(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with world(db_url) as w:
        recorder = w.platform.platform
        handle = recorder.handle

        def bad_key(request: Inbound) -> Answer:
            if request.interface == "downloadpublickey":
                return Answer(data={"publickey": "04" + "00" * 64})
            return handle(request)

        monkeypatch.setattr(recorder, "handle", bad_key)
        pk = _paid_and_issued(w)
        w.deliver()
        [job] = outbox_messages(w.issuer.sessions, "tender.file_upload")
        with pytest.raises(PermanentFailure, match="publickey is not an SM2 public key"):
            w.issuer.courier(job)
        assert w.issuer.service.application(pk).stage == "paid"


def _identity(name: str = "default") -> Identity:
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca("CN=Institution Test CA,O=baohan,C=CN", ca_key)
    certificate = issue_certificate(ca, ca_key, f"CN={INSTITUTION},C=CN", key.public_key)
    return Identity(name, key, certificate, ca)


def _maker_seal(users: list) -> bytes:  # type: ignore[type-arg]
    maker_key = SM2PrivateKey.generate()
    maker_ca = make_ca("CN=Seal Maker,O=baohan,C=CN", maker_key)
    now = datetime.now(UTC)
    spec = SealSpec(
        es_id="11010000000001",
        name=f"{INSTITUTION}保函专用章",
        picture_png=draw_seal(INSTITUTION, caption="保函专用章", size_px=128),
        users=users,
        valid_from=now - timedelta(days=1),
        valid_to=now + timedelta(days=365),
    )
    return make_seal(spec, maker_key, maker_ca, created=now - timedelta(days=1))


def test_a_configured_seal_must_list_our_certificate() -> None:
    ours, other = _identity(), _identity()
    assert ours.certificate is not None and other.certificate is not None
    now = datetime.now(UTC)
    configured = _maker_seal([ours.certificate])
    assert Seals(configured).seal(ours, INSTITUTION, now).seal == configured
    with pytest.raises(SealUnavailable, match="does not list our identity's certificate"):
        Seals(configured).seal(other, INSTITUTION, now)
    with pytest.raises(SealUnavailable, match="has no certificate"):
        Seals().seal(Identity("bare", SM2PrivateKey.generate(), None, None), INSTITUTION, now)
    made = Seals()
    first = made.seal(ours, INSTITUTION, now)
    assert made.seal(ours, INSTITUTION, now) is first  # made once per certificate
