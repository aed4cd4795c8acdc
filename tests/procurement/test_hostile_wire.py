"""Hostile requests to a real issuer on SQLite and PostgreSQL: each is a 103 naming its field, never a 302.

Found by fuzzing (issue 14): ten-digit months overflowed PostgreSQL's integer, a NUL character reached the
database (even in ``appid``, before any credential was checked), and deep nesting exhausted the stack.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.envelope import Channel, compute_sign, decode_response, encode_request
from baohan.services.procurement.runtime import RoleRuntime, open_runtime
from baohan.web.procurement import create_app
from tests.procurement.harness import application_fields

PLATFORM_KEY, ISSUER_KEY = SM2PrivateKey.generate(), SM2PrivateKey.generate()
PLATFORM = Channel("BANK0001", "k", "secret-1", PLATFORM_KEY, ISSUER_KEY.public_key)
PATH = "/zcdservice/v1/lg/ELYApi"
FRAME_FIELDS = ("transcode", "msgcode", "appid", "reqtime", "version", "data", "sign")


@pytest.fixture
def issuer(db_url: str) -> Iterator[tuple[RoleRuntime, TestClient]]:
    runtime = open_runtime("issuer", db_url, SecretBox("hostile wire passphrase"))
    runtime.registry.add_identity("default", ISSUER_KEY)
    runtime.registry.add_counterparty(
        name="p",
        role="platform",
        appid=PLATFORM.appid,
        appkey=PLATFORM.appkey,
        appsecret=PLATFORM.appsecret,
        public_key=PLATFORM_KEY.public_key,
    )
    try:
        yield runtime, TestClient(create_app(runtime, admin_token="t", run_dispatcher=False).protocol)
    finally:
        runtime.service.close()  # type: ignore[union-attr]
        runtime.engine.dispose()


def answer(client: TestClient, body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = client.post(PATH, content=raw)
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def decoded(client: TestClient, payload: dict[str, Any], transcode: str = "ELY101") -> tuple[str, str]:
    reply = decode_response(PLATFORM, answer(client, encode_request(PLATFORM, transcode, payload)))
    return reply.code.value, reply.message


def test_ten_digit_months_are_103_naming_the_field(issuer: tuple[RoleRuntime, TestClient]) -> None:
    _, client = issuer
    for field in ("guaranteeDate", "contractDate"):
        code, message = decoded(client, application_fields(f"M-{field}", **{field: "9999999999"}))
        assert code == "103" and f"{field}: must be a whole number of months from 1 to 1200" in message
    assert decoded(client, application_fields("M-OK", guaranteeDate="1200"))[0] == "000"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FRAME_FIELDS), at=st.integers(min_value=0, max_value=40))
def test_a_nul_in_any_frame_field_is_103_naming_it(
    issuer: tuple[RoleRuntime, TestClient], field: str, at: int
) -> None:
    _, client = issuer
    wire = encode_request(PLATFORM, "ELY101", application_fields("NUL-FRAME"))
    value = wire[field]
    wire[field] = value[: at % (len(value) + 1)] + "\x00" + value[at % (len(value) + 1) :]
    reply = answer(client, wire)
    assert reply["code"] == "103", reply
    assert f"{field}: must not contain the NUL character" in reply["message"]


_NOT_TEXT = {"performanceBond", "bidAmount", "bidDate", "guaranteeDate"}
TEXT_FIELDS = [
    *sorted(k for k in application_fields("x") if k not in _NOT_TEXT),
    *("supplierAddress", "mailAddress", "ext1", "ext2", "ext3"),
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(TEXT_FIELDS), text=st.text(max_size=8))
def test_a_nul_in_any_data_field_is_103_naming_it(
    issuer: tuple[RoleRuntime, TestClient], field: str, text: str
) -> None:
    _, client = issuer
    code, message = decoded(client, application_fields("NUL-DATA", **{field: text[:4] + "\x00" + text[4:]}))
    assert code == "103", message
    assert f"{field}: " in message and ("NUL" in message or "must be one of" in message)


def _nested(depth: int, kinds: list[bool]) -> str:
    opening = "".join("[" if k else '{"k":' for k in (kinds * (depth // len(kinds) + 1))[:depth])
    closing = "".join("]" if k else "}" for k in reversed((kinds * (depth // len(kinds) + 1))[:depth]))
    return opening + "1" + closing


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    depth=st.integers(min_value=17, max_value=5000),
    kinds=st.lists(st.booleans(), min_size=1, max_size=5),
    inside=st.booleans(),
)
def test_deep_nesting_is_103_in_the_body_and_in_the_data(
    issuer: tuple[RoleRuntime, TestClient], depth: int, kinds: list[bool], inside: bool
) -> None:
    _, client = issuer
    nested = _nested(depth, kinds)
    if not inside:
        reply = answer(client, nested.encode())
        assert reply["code"] == "103" and "request body: nested deeper than" in reply["message"], reply
        wire = encode_request(PLATFORM, "ELY101", application_fields("DEEP"))
        reply = answer(client, json.dumps(wire)[:-1].encode() + b', "ext": ' + nested.encode() + b"}")
        assert reply["code"] == "103" and "request body: nested deeper than" in reply["message"], reply
        return
    # Sealed by hand: the data is a well-formed encryption of deeply nested JSON.
    body = json.dumps(application_fields("DEEP"))[:-1] + ', "ext1": ' + nested + "}"
    wire = encode_request(PLATFORM, "ELY101", {})
    ciphertext = ISSUER_KEY.public_key.encrypt(body.encode(), layout="c1c3c2", prefix=True)
    wire["data"] = base64.b64encode(ciphertext).decode()
    wire["sign"] = compute_sign(wire["data"], wire["reqtime"], PLATFORM.appkey, PLATFORM.appsecret)
    reply = answer(client, wire)
    assert reply["code"] == "103" and "data: nested deeper than" in reply["message"], reply


def test_full_width_digits_in_reqtime_are_103(issuer: tuple[RoleRuntime, TestClient]) -> None:
    _, client = issuer
    wire = encode_request(PLATFORM, "ELY101", application_fields("WIDE"))
    wire["reqtime"] = wire["reqtime"].translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    reply = answer(client, wire)
    assert reply["code"] == "103" and "reqtime: must be yyyyMMddHHmmss" in reply["message"]


def test_every_path_under_the_protocol_prefix_answers_in_the_protocol_shape(
    issuer: tuple[RoleRuntime, TestClient],
) -> None:
    _, client = issuer
    wire = encode_request(PLATFORM, "ELY101", application_fields("SLASH"))
    slash = client.post(PATH + "/", content=json.dumps(wire).encode())
    assert slash.status_code == 200 and decode_response(PLATFORM, slash.json()).ok
    for path in ("/zcdservice/v1/lg/nothing", "/zcdservice/v1/lg/ELY999", "/zcdservice/v1/lg"):
        unknown = client.post(path, content=b"{}")
        assert unknown.status_code == 200
        assert unknown.json() == {
            "code": "103",
            "message": f"数据接收失败, 请求参数校验未通过: path: {path} is not an interface of this server",
        }
    wrong = client.get(PATH)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert wrong.json()["code"] == "103" and "POST only" in wrong.json()["message"]
