"""Every §11.1 code, earned by a real request over HTTP; and ELY104 refusing a tampered guarantee."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from baohan.adapters.db.tables import StoredFile
from baohan.gm import SM2PrivateKey
from baohan.protocols.fields import MessageInvalid
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel, Response
from baohan.protocols.procurement.models import CERTIFICATE_FIELDS, parse_response_data
from tests.db.postgres import PostgresCluster
from tests.procurement.harness import (
    APPID,
    APPKEY,
    APPSECRET,
    Pair,
    application_fields,
    ely105_fields,
    running_pair,
    wait_for,
)
from tests.procurement.test_lifecycle import approve_and_issue


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    # One pair per database for the module: each test earns its code without disturbing the others.
    if request.param == "sqlite":
        root: Path = tmp_path_factory.mktemp("codes")
        urls = (f"sqlite:///{root}/issuer.db", f"sqlite:///{root}/platform.db")
        names: list[str] = []
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        template: str = request.getfixturevalue("postgres_migrated_template")
        names = [cluster.create_database(template=template) for _ in range(2)]
        urls = (cluster.url(names[0]), cluster.url(names[1]))
    try:
        with running_pair(*urls) as running:
            approve_and_issue(running, "LIVE-1")
            yield running
    finally:
        for name in names:
            cluster.drop_database(name)


def as_platform(pair: Pair, **change: object) -> ProcurementClient:
    """A client speaking to the issuer with the platform's identity (or a corrupted copy of it)."""
    fields: dict[str, object] = {
        "appid": APPID,
        "appkey": APPKEY,
        "appsecret": APPSECRET,
        "own_key": pair.platform_key,
        "peer_key": pair.issuer_key.public_key,
    }
    fields.update(change)
    return ProcurementClient(pair.issuer_endpoint, Channel(**fields))  # type: ignore[arg-type]


def claim(pair: Pair, **overrides: str) -> dict[str, str]:
    return ely105_fields(pair.issuer_app("LIVE-1"), **overrides)


def code_of(answer: Response) -> str:
    return answer.code.value


def test_000_for_a_good_request(pair: Pair) -> None:
    answer = as_platform(pair).send("ELY103", {"applicationId": "LIVE-1"})
    assert code_of(answer) == "000" and answer.data is not None
    assert base64.b64decode(answer.data["guaranteeFileContent"]).startswith(b"%PDF")


def test_101_sign_mismatch(pair: Pair) -> None:
    answer = as_platform(pair, appsecret="not the shared secret").send("ELY101", application_fields("X-101"))
    assert code_of(answer) == "101" and "sign" in answer.message
    stranger = as_platform(pair, appid="UNKNOWN1").send("ELY101", application_fields("X-101"))
    assert code_of(stranger) == "101" and "appid" in stranger.message


def test_102_undecryptable(pair: Pair) -> None:
    answer = as_platform(pair, peer_key=SM2PrivateKey.generate().public_key).send(
        "ELY101", application_fields("X-102")
    )
    assert code_of(answer) == "102"


def test_103_validation_names_the_field(pair: Pair) -> None:
    fields = application_fields("X-103")
    del fields["legalIdNo"]
    answer = as_platform(pair).send("ELY101", fields)
    assert code_of(answer) == "103" and "legalIdNo: required" in answer.message
    answer = as_platform(pair).send("ELY101", application_fields("X-103", needPaper="1"))
    assert code_of(answer) == "103" and "mailAddress" in answer.message
    answer = as_platform(pair).send("ELY101", application_fields("X-103", performanceBond="12.5"))
    assert code_of(answer) == "103" and "performanceBond" in answer.message


def test_103_for_an_illegal_transition_says_why(pair: Pair) -> None:
    submitted = as_platform(pair).send("ELY101", application_fields("X-103B"))
    assert code_of(submitted) == "000"
    wait_for(lambda: pair.issuer_app("X-103B").get("stage") == "approved", "approved")
    invalidated = as_platform(pair).send(
        "ELY107",
        {
            "guaranteeId": pair.issuer_app("LIVE-1")["guarantee_id"],
            "invalidTime": "2026-11-23 10:00:00",
            "invalidType": "9",
        },
    )
    assert code_of(invalidated) == "103" and "invalidType" in invalidated.message


def test_201_unknown_project(pair: Pair) -> None:
    answer = as_platform(pair).send("ELY105", claim(pair, projectCode="ZB-NO-SUCH"))
    assert code_of(answer) == "201" and "projectCode" in answer.message


def test_203_unknown_application_or_guarantee(pair: Pair) -> None:
    assert code_of(as_platform(pair).send("ELY103", {"applicationId": "NO-SUCH-APP"})) == "203"
    assert code_of(as_platform(pair).send("ELY105", claim(pair, guaranteeId="BH-NO-SUCH"))) == "203"


def test_103_not_203_for_an_application_that_has_no_file_yet(pair: Pair) -> None:
    # The application exists: 203 ("…编号不存在") would say it does not (issue 15).
    submitted = as_platform(pair).send("ELY101", application_fields("X-NOFILE"))
    assert code_of(submitted) == "000"
    wait_for(lambda: pair.issuer_app("X-NOFILE").get("stage") == "approved", "approved")
    approved = as_platform(pair).send("ELY103", {"applicationId": "X-NOFILE"})
    assert code_of(approved) == "103"
    assert "applicationId: X-NOFILE has no guarantee file yet: it is approved" in approved.message


def test_204_unknown_supplier(pair: Pair) -> None:
    answer = as_platform(pair).send("ELY105", claim(pair, socialCreditCode="91110000000000000X"))
    assert code_of(answer) == "204" and "socialCreditCode" in answer.message


def test_301_while_paused(pair: Pair) -> None:
    assert pair.issuer_admin.post("/admin/pause", json={"paused": True}).status_code == 200
    try:
        assert code_of(as_platform(pair).send("ELY103", {"applicationId": "LIVE-1"})) == "301"
    finally:
        pair.issuer_admin.post("/admin/pause", json={"paused": False})
    assert code_of(as_platform(pair).send("ELY103", {"applicationId": "LIVE-1"})) == "000"


def test_302_unexpected_error_reveals_nothing(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    # Corrupt the stored letter behind the issuer's back: reading it fails its digest check.
    file_id = pair.issuer.service.application("LIVE-1").file_id
    with pair.issuer.sessions() as session:
        original = session.get(StoredFile, file_id).content  # type: ignore[union-attr]
        session.execute(update(StoredFile).where(StoredFile.id == file_id).values(content=b"%PDF-garbage"))
        session.commit()
    try:
        answer = as_platform(pair).send("ELY103", {"applicationId": "LIVE-1"}, msgcode="c0ffee" * 5 + "00")
        assert (code_of(answer), answer.message) == ("302", "服务器异常")
        assert "c0ffee" * 5 + "00" in caplog.text
    finally:
        with pair.issuer.sessions() as session:
            session.execute(update(StoredFile).where(StoredFile.id == file_id).values(content=original))
            session.commit()


def test_a_repeated_msgcode_is_answered_without_a_second_effect(pair: Pair) -> None:
    client = as_platform(pair)
    first = client.send("ELY101", application_fields("X-REPLAY"), msgcode="ab" * 16)
    again = client.send("ELY101", application_fields("X-REPLAY"), msgcode="ab" * 16)
    assert code_of(first) == code_of(again) == "000"
    assert len(pair.issuer.service.history("X-REPLAY")) == 2  # receive + approve, once


def test_ely104_refuses_a_tampered_guarantee(pair: Pair) -> None:
    pdf = pair.issuer_admin.get("/admin/applications/LIVE-1/file").content
    guarantee_id = pair.issuer_app("LIVE-1")["guarantee_id"]
    good = as_platform(pair).send(
        "ELY104", {"guaranteeId": guarantee_id, "guaranteeData": base64.b64encode(pdf).decode()}
    )
    assert code_of(good) == "000" and good.data is not None and good.data["status"] == "01"
    assert good.data["certNum"] == pair.issuer_cert.info().serial
    position = pdf.find(b"/Contents") - 200  # a byte inside the signed range
    tampered = pdf[:position] + bytes([pdf[position] ^ 0x01]) + pdf[position + 1 :]
    bad = as_platform(pair).send(
        "ELY104", {"guaranteeId": guarantee_id, "guaranteeData": base64.b64encode(tampered).decode()}
    )
    assert code_of(bad) == "000" and bad.data is not None and bad.data["status"] == "02"
    assert "验证失败" in bad.message
    # Status 02 still describes the certificate found, all of it (the table marks the fields required).
    assert {k: bad.data[k] for k in ("certNum", "certOwner", "certAuthor")} == {
        k: good.data[k] for k in ("certNum", "certOwner", "certAuthor")
    }
    assert bad.data["certBeginTime"] and bad.data["certEndTime"] and bad.data["signTime"]


def test_ely104_refuses_a_genuine_letter_sent_under_another_guarantee(pair: Pair) -> None:
    approve_and_issue(pair, "LIVE-2")
    letter_1 = pair.issuer_admin.get("/admin/applications/LIVE-1/file").content
    other_id = pair.issuer_app("LIVE-2")["guarantee_id"]
    answer = as_platform(pair).send(
        "ELY104", {"guaranteeId": other_id, "guaranteeData": base64.b64encode(letter_1).decode()}
    )
    assert code_of(answer) == "000" and answer.data is not None
    assert answer.data["status"] == "02" and answer.data["guaranteeId"] == other_id
    assert f"the file is not the letter of guarantee {other_id}" in answer.message
    assert answer.data["certNum"] == pair.issuer_cert.info().serial  # the certificate is described
    assert set(CERTIFICATE_FIELDS) <= set(answer.data)
    letter_2 = pair.issuer_admin.get("/admin/applications/LIVE-2/file").content
    own = as_platform(pair).send(
        "ELY104", {"guaranteeId": other_id, "guaranteeData": base64.b64encode(letter_2).decode()}
    )
    assert own.data is not None and own.data["status"] == "01"


def test_ely104_of_an_unsigned_file_is_02_without_certificate_fields(pair: Pair) -> None:
    guarantee_id = pair.issuer_app("LIVE-1")["guarantee_id"]
    answer = as_platform(pair).send(
        "ELY104",
        {"guaranteeId": guarantee_id, "guaranteeData": base64.b64encode(b"%PDF-1.7 unsigned").decode()},
    )
    assert code_of(answer) == "000" and answer.data == {"guaranteeId": guarantee_id, "status": "02"}
    assert "no PDF signature found" in answer.message
    # The platform's model takes exactly this, and refuses a certificate described in part.
    assert parse_response_data("ELY104", answer.data) is not None
    with pytest.raises(MessageInvalid, match="required when status is 02 and a certificate is described"):
        parse_response_data("ELY104", {**answer.data, "certNum": "01"})


def test_the_platform_answers_203_for_a_notice_about_an_unknown_application(pair: Pair) -> None:
    client = ProcurementClient(
        f"{pair.platform_server.url}/zcdservice/v1/lg/ELYApi",
        Channel(APPID, APPKEY, APPSECRET, pair.issuer_key, pair.platform_key.public_key),
    )
    answer = client.send("ELY102", {"applicationId": "NEVER-SUBMITTED", "applicationStatus": "01"})
    assert code_of(answer) == "203"


def test_the_platform_answers_103_not_203_for_a_claim_result_without_an_open_claim(pair: Pair) -> None:
    client = ProcurementClient(
        f"{pair.platform_server.url}/zcdservice/v1/lg/ELYApi",
        Channel(APPID, APPKEY, APPSECRET, pair.issuer_key, pair.platform_key.public_key),
    )
    guarantee_id = pair.issuer_app("LIVE-1")["guarantee_id"]
    wait_for(lambda: pair.platform_app("LIVE-1").get("guarantee_id"), "the platform knows the guarantee")
    answer = client.send("ELY106", {"guaranteeId": guarantee_id, "status": "00"})
    assert code_of(answer) == "103"
    assert f"guaranteeId: {guarantee_id} has no open claim" in answer.message
