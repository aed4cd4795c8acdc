"""The procurement router: dispatch, the §11.1 codes it owns, replay, and both path styles, in-process."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.client import ProcurementClient, TransportError
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.envelope import Channel, compute_sign, decode_response, encode_request
from baohan.protocols.procurement.router import Answer, Inbound, ProcurementWire
from baohan.web.front import CheckPool, ProtocolFront

PLATFORM_KEY, ISSUER_KEY = SM2PrivateKey.generate(), SM2PrivateKey.generate()
CREDS = {"appid": "BANK0001", "appkey": "ak", "appsecret": "secret-of-bank-0001"}
PLATFORM = Channel(own_key=PLATFORM_KEY, peer_key=ISSUER_KEY.public_key, **CREDS)
ISSUER = Channel(own_key=ISSUER_KEY, peer_key=PLATFORM_KEY.public_key, **CREDS)


class Recorder:
    """A minimal real endpoint: remembers answers by msgcode and counts effects."""

    def __init__(self) -> None:
        self.is_paused = False
        self.effects: list[Inbound] = []
        self.answers: dict[tuple[str, str], tuple[str, Answer]] = {}
        self.fail_with: Exception | None = None

    def channel(self, appid: str) -> Channel | None:
        return ISSUER if appid == ISSUER.appid else None

    def paused(self) -> bool:
        return self.is_paused

    def replayed(self, appid: str, msgcode: str, fingerprint: str) -> Answer | None:
        prior = self.answers.get((appid, msgcode))
        if prior is None:
            return None
        if prior[0] != fingerprint:
            raise ProtocolError(Code.INVALID, "msgcode: already used for a different request")
        return prior[1]

    def handle(self, request: Inbound) -> Answer:
        prior = self.replayed(request.appid, request.msgcode, request.fingerprint)
        if prior is not None:
            return prior
        if self.fail_with is not None:
            raise self.fail_with
        self.effects.append(request)
        answer = Answer(data={"echo": request.payload, "n": len(self.effects)})
        self.answers[(request.appid, request.msgcode)] = (request.fingerprint, answer)
        return answer


def validate(transcode: str, payload: dict[str, Any]) -> dict[str, Any]:
    if "applicationId" not in payload:
        raise ProtocolError(Code.INVALID, "applicationId: required")
    return payload


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


SERVED = {"ELY101", "ELY103", "ELY104"}
LONE = "a \\u escape leaves a lone surrogate, which is not a Unicode character"


@pytest.fixture
def http(recorder: Recorder) -> TestClient:
    """The lean ProtocolFront the roles' apps use, in front of an app of its own."""
    return front(recorder)


def front(recorder: Recorder, *, max_body: int | None = None) -> TestClient:
    app = FastAPI()

    @app.get("/other")
    def other() -> dict[str, str]:
        return {"from": "inner"}

    codec = ProcurementWire(recorder, validate, SERVED)
    return TestClient(
        ProtocolFront(app, [codec]) if max_body is None else ProtocolFront(app, [codec], max_body=max_body)
    )


def test_front_refuses_an_oversized_body_with_103(recorder: Recorder) -> None:
    reply = post(front(recorder, max_body=1000), b"x" * 1001)
    assert reply["code"] == "103" and reply["message"].endswith(": request body: larger than 1000 bytes")
    assert recorder.effects == []


def test_front_leaves_other_methods_and_paths_to_the_app(recorder: Recorder) -> None:
    client = front(recorder)
    assert client.get("/zcdservice/v1/lg/ELYApi").status_code == 405
    assert client.get("/other").json() == {"from": "inner"}
    # Under the protocol's prefix every answer is the protocol's (tests/procurement/test_hostile_wire.py).
    assert client.post("/zcdservice/v1/lg/ELY999", content=b"{}").json()["code"] == "103"


def test_one_front_hosts_several_roles_at_their_own_prefixes(recorder: Recorder) -> None:
    other = Recorder()
    app = ProtocolFront(
        FastAPI(),
        [
            ProcurementWire(recorder, validate, SERVED),
            ProcurementWire(other, validate, SERVED, prefix="/b/lg"),
        ],
    )
    client = TestClient(app)
    for path, target in (("/zcdservice/v1/lg/ELYApi", recorder), ("/b/lg/ELY101", other)):
        wire = encode_request(PLATFORM, "ELY101", {"applicationId": path})
        assert decode_response(PLATFORM, post(client, wire, path)).ok
        assert target.effects[-1].payload == {"applicationId": path}
    assert len(recorder.effects) == len(other.effects) == 1
    with pytest.raises(ValueError, match="two protocol roles serve /zcdservice/v1/lg/ELYApi"):
        ProtocolFront(
            FastAPI(), [ProcurementWire(recorder, validate, SERVED), ProcurementWire(other, validate, SERVED)]
        )


def post(http: TestClient, body: object, path: str = "/zcdservice/v1/lg/ELYApi") -> dict[str, Any]:
    reply = http.post(path, content=json.dumps(body) if not isinstance(body, bytes) else body)
    assert reply.status_code == 200
    return reply.json()  # type: ignore[no-any-return]


def test_single_endpoint_processes_and_encrypts_the_answer(http: TestClient, recorder: Recorder) -> None:
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    answer = decode_response(PLATFORM, post(http, wire))
    assert answer.ok and answer.data == {"echo": {"applicationId": "A1"}, "n": 1}
    assert recorder.effects[0].transcode == "ELY101" and recorder.effects[0].msgcode == wire["msgcode"]


def test_per_transcode_path(http: TestClient) -> None:
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    assert post(http, wire, "/zcdservice/v1/lg/ELY101")["code"] == "000"
    wire = encode_request(PLATFORM, "ELY103", {"applicationId": "A1"})
    reply = post(http, wire, "/zcdservice/v1/lg/ELY101")
    assert reply["code"] == "103" and "transcode" in reply["message"]


def test_envelope_transcodes_travel_as_envelopes(http: TestClient) -> None:
    wire = encode_request(PLATFORM, "ELY104", {"applicationId": "A1"}, envelope=True)
    assert len(wire["sign"]) > 64  # the sealed SM4 key, not an SM3 digest
    assert decode_response(PLATFORM, post(http, wire)).ok
    reply = post(http, encode_request(PLATFORM, "ELY103", {"applicationId": "A1"}))
    assert "sign" in reply
    assert decode_response(PLATFORM, reply, envelope=True).data == {"echo": {"applicationId": "A1"}, "n": 2}


def test_a_repeated_msgcode_gets_the_same_answer_without_a_second_effect(
    http: TestClient, recorder: Recorder
) -> None:
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    first = decode_response(PLATFORM, post(http, wire))
    second = decode_response(PLATFORM, post(http, wire))
    assert first.data == second.data and len(recorder.effects) == 1


def test_a_reused_msgcode_with_other_content_is_103(http: TestClient, recorder: Recorder) -> None:
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    post(http, wire)
    other = encode_request(PLATFORM, "ELY101", {"applicationId": "A2"}, msgcode=wire["msgcode"])
    reply = post(http, other)
    assert reply["code"] == "103" and "msgcode" in reply["message"]
    assert len(recorder.effects) == 1


def test_unknown_appid_is_101(http: TestClient) -> None:
    stranger = Channel("BANK9999", "ak", "secret", PLATFORM_KEY, ISSUER_KEY.public_key)
    reply = post(http, encode_request(stranger, "ELY101", {"applicationId": "A1"}))
    assert reply["code"] == "101" and "appid" in reply["message"]


def test_bad_sign_is_101(http: TestClient) -> None:
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    wire["sign"] = "0" * 64
    assert post(http, wire)["code"] == "101"


def test_undecryptable_is_102(http: TestClient) -> None:
    wrong = Channel(own_key=PLATFORM_KEY, peer_key=SM2PrivateKey.generate().public_key, **CREDS)
    assert post(http, encode_request(wrong, "ELY101", {"applicationId": "A1"}))["code"] == "102"


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"transcode": "ELY101"}'])
def test_malformed_is_103(http: TestClient, body: bytes) -> None:
    assert post(http, body)["code"] == "103"


def test_a_lone_surrogate_in_the_body_is_103(http: TestClient, recorder: Recorder) -> None:
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    body = json.dumps(wire).replace('"appid": "BANK0001"', '"appid": "BANK\\udc80"').encode()
    reply = post(http, body)
    assert reply["code"] == "103" and reply["message"].endswith("request body: " + LONE)
    assert recorder.effects == []


def test_a_lone_surrogate_in_the_decrypted_data_is_103(http: TestClient, recorder: Recorder) -> None:
    # Sealed by hand: our own encoder refuses to write such text.
    data = ISSUER_KEY.public_key.encrypt(b'{"applicationId": "A\\ud800"}', layout="c1c3c2", prefix=True)
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    wire["data"] = base64.b64encode(data).decode()
    wire["sign"] = compute_sign(wire["data"], wire["reqtime"], CREDS["appkey"], CREDS["appsecret"])
    reply = post(http, wire)
    assert reply["code"] == "103" and reply["message"].endswith("data: " + LONE)
    assert recorder.effects == []


def test_validation_failure_is_103_naming_the_field(http: TestClient, recorder: Recorder) -> None:
    reply = post(http, encode_request(PLATFORM, "ELY101", {"supplier": "x"}))
    assert reply == {"code": "103", "message": "数据接收失败, 请求参数校验未通过: applicationId: required"}
    assert recorder.effects == []


def test_a_transcode_not_served_is_103(http: TestClient) -> None:
    reply = post(http, encode_request(PLATFORM, "ELY102", {"applicationId": "A1"}))
    assert reply["code"] == "103" and "not served" in reply["message"]


def test_paused_is_301(http: TestClient, recorder: Recorder) -> None:
    recorder.is_paused = True
    assert post(http, encode_request(PLATFORM, "ELY101", {"applicationId": "A1"}))["code"] == "301"


def test_business_error_passes_through(http: TestClient, recorder: Recorder) -> None:
    recorder.fail_with = ProtocolError(Code.UNKNOWN_APPLICATION, "applicationId: A404")
    reply = post(http, encode_request(PLATFORM, "ELY101", {"applicationId": "A404"}))
    assert reply["code"] == "203" and "A404" in reply["message"]


def test_unexpected_failure_is_302_logged_with_msgcode_and_no_internals(
    http: TestClient, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.fail_with = RuntimeError("database password is hunter2")
    wire = encode_request(PLATFORM, "ELY101", {"applicationId": "A1"})
    with caplog.at_level(logging.ERROR):
        reply = post(http, wire)
    assert reply == {"code": "302", "message": "服务器异常"}
    assert wire["msgcode"] in caplog.text


def test_client_sends_and_decodes(http: TestClient) -> None:
    client = ProcurementClient("http://testserver/zcdservice/v1/lg/ELYApi", PLATFORM, http=http)
    answer = client.send("ELY101", {"applicationId": "A7"})
    assert answer.ok and answer.data is not None and answer.data["echo"] == {"applicationId": "A7"}
    per_path = ProcurementClient(
        "http://testserver/zcdservice/v1/lg", PLATFORM, per_transcode_paths=True, http=http
    )
    assert per_path.send("ELY103", {"applicationId": "A7"}).data is not None


def test_client_reports_transport_failures() -> None:
    client = ProcurementClient("http://127.0.0.1:9/nowhere", PLATFORM, timeout=2)
    with pytest.raises(TransportError, match="ELY101"):
        client.send("ELY101", {"applicationId": "A1"})


def test_wire_check_workers_answer_every_caller_with_its_own_result() -> None:
    import asyncio

    checks = CheckPool(2)

    def fails() -> int:
        raise RuntimeError("only this one")

    async def run() -> list[object]:
        calls = [checks.run(lambda i=i: i * i) for i in range(200)]
        calls.insert(57, checks.run(fails))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    failure = results.pop(57)
    assert isinstance(failure, RuntimeError) and str(failure) == "only this one"
    assert results == [i * i for i in range(200)]
