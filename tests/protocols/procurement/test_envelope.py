"""The procurement envelope: round trips under every profile, and the 101 / 102 / 103 each failure earns."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import Layout, SM2PrivateKey, SM4Mode, sm3_hex
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.envelope import (
    SHANGHAI,
    Channel,
    ResponseInvalid,
    check_clock,
    check_sign,
    compute_sign,
    decode_response,
    encode_request,
    encode_response,
    open_request,
    parse_frame,
)
from baohan.protocols.profile import Profile

PLATFORM_KEY, ISSUER_KEY = SM2PrivateKey.generate(), SM2PrivateKey.generate()
PROFILES = st.builds(
    Profile,
    sm2_layout=st.sampled_from(list(Layout)),
    sm2_prefix=st.booleans(),
    encoding=st.sampled_from(["base64", "hex"]),
    sm4_mode=st.sampled_from(list(SM4Mode)),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
PAYLOADS = st.dictionaries(st.text(min_size=1, max_size=20), JSON_VALUES, max_size=8)


DEFAULT_PROFILE = Profile()


def channels(profile: Profile = DEFAULT_PROFILE) -> tuple[Channel, Channel]:
    """(platform's channel to the issuer, issuer's channel to the platform) sharing one appid/appkey/appsecret."""
    common = {"appid": "BANK0001", "appkey": "ak-demo", "appsecret": "as-demo-secret", "profile": profile}
    platform = Channel(own_key=PLATFORM_KEY, peer_key=ISSUER_KEY.public_key, **common)
    issuer = Channel(own_key=ISSUER_KEY, peer_key=PLATFORM_KEY.public_key, **common)
    return platform, issuer


@given(PROFILES, PAYLOADS, st.booleans())
def test_request_round_trip_under_any_profile(
    profile: Profile, payload: dict[str, object], envelope: bool
) -> None:
    platform, issuer = channels(profile)
    wire = encode_request(platform, "ELY101", payload, envelope=envelope)
    frame = parse_frame(json.loads(json.dumps(wire)))
    if not envelope:
        check_sign(frame, issuer)
    check_clock(frame, profile)
    assert open_request(frame, issuer, envelope=envelope) == payload


@given(PROFILES, PAYLOADS, st.booleans())
def test_response_round_trip_under_any_profile(
    profile: Profile, payload: dict[str, object], envelope: bool
) -> None:
    platform, issuer = channels(profile)
    wire = encode_response(issuer, Code.OK, "成功", payload, envelope=envelope)
    answer = decode_response(platform, json.loads(json.dumps(wire)), envelope=envelope)
    assert answer.ok and answer.message == "成功" and answer.data == payload


def test_sign_is_sm3_of_data_reqtime_appkey_appsecret() -> None:
    platform, _ = channels()
    wire = encode_request(platform, "ELY101", {"applicationId": "A1"})
    assert wire["sign"] == sm3_hex(f"{wire['data']}&{wire['reqtime']}&ak-demo&as-demo-secret".encode())
    assert wire["sign"] == compute_sign(wire["data"], wire["reqtime"], "ak-demo", "as-demo-secret")
    assert len(wire["msgcode"]) == 32 and wire["version"] == "v1.0" and wire["appid"] == "BANK0001"


def test_data_is_base64_of_c1c3c2_with_prefix_by_default() -> None:
    platform, _ = channels()
    wire = encode_request(platform, "ELY101", {"a": "b"})
    raw = __import__("base64").b64decode(wire["data"])
    assert raw[0] == 0x04
    assert ISSUER_KEY.decrypt(raw, layout="c1c3c2", prefix=True) == b'{"a":"b"}'


def test_reqtime_is_shanghai_time() -> None:
    platform, _ = channels()
    moment = datetime(2026, 1, 25, 4, 0, 0, tzinfo=__import__("datetime").UTC)
    assert encode_request(platform, "ELY101", {}, now=moment)["reqtime"] == "20260125120000"


def test_uppercase_sign_is_accepted() -> None:
    platform, issuer = channels()
    wire = encode_request(platform, "ELY101", {"x": "1"})
    wire["sign"] = wire["sign"].upper()
    check_sign(parse_frame(wire), issuer)


def _code(exc: pytest.ExceptionInfo[ProtocolError]) -> str:
    return exc.value.code.value


@pytest.mark.parametrize("field", ["data", "reqtime", "sign"])
def test_tampering_with_a_signed_field_is_101(field: str) -> None:
    platform, issuer = channels()
    wire = encode_request(platform, "ELY101", {"performanceBond": "1000.00"})
    wire[field] = wire[field][:-1] + ("0" if wire[field][-1] != "0" else "1")
    with pytest.raises(ProtocolError) as exc:
        check_sign(parse_frame(wire), issuer)
    assert _code(exc) == "101"


def test_wrong_appsecret_is_101() -> None:
    platform, issuer = channels()
    wire = encode_request(platform, "ELY101", {})
    other = Channel(issuer.appid, issuer.appkey, "another secret", issuer.own_key, issuer.peer_key)
    with pytest.raises(ProtocolError) as exc:
        check_sign(parse_frame(wire), other)
    assert _code(exc) == "101" and "sign" in exc.value.message


def test_data_for_another_key_is_102() -> None:
    platform, issuer = channels()
    stranger = Channel(
        platform.appid, platform.appkey, platform.appsecret, PLATFORM_KEY, SM2PrivateKey.generate().public_key
    )
    wire = encode_request(stranger, "ELY101", {"a": "b"})
    frame = parse_frame(wire)
    check_sign(frame, issuer)  # correctly signed, but encrypted for someone else
    with pytest.raises(ProtocolError) as exc:
        open_request(frame, issuer)
    assert _code(exc) == "102"


@pytest.mark.parametrize("data", ["!!!not base64 or hex!!!", "AAAA", "0011"])
def test_garbage_data_is_102(data: str) -> None:
    platform, issuer = channels()
    wire = encode_request(platform, "ELY101", {})
    wire["data"] = data
    wire["sign"] = compute_sign(data, wire["reqtime"], "ak-demo", "as-demo-secret")
    with pytest.raises(ProtocolError) as exc:
        open_request(parse_frame(wire), issuer)
    assert _code(exc) == "102"


def test_decrypted_non_json_is_103() -> None:
    _, issuer = channels()
    data = __import__("base64").b64encode(ISSUER_KEY.public_key.encrypt(b"not json")).decode()
    frame = parse_frame(
        {
            "transcode": "ELY101",
            "msgcode": "a" * 32,
            "appid": "BANK0001",
            "reqtime": "20260101120000",
            "version": "v1.0",
            "data": data,
            "sign": "x",
        }
    )
    with pytest.raises(ProtocolError) as exc:
        open_request(frame, issuer)
    assert _code(exc) == "103" and "JSON" in exc.value.message


def test_request_older_than_the_window_is_103() -> None:
    platform, _ = channels()
    wire = encode_request(platform, "ELY101", {}, now=datetime.now(SHANGHAI) - timedelta(minutes=6))
    with pytest.raises(ProtocolError) as exc:
        check_clock(parse_frame(wire), Profile())
    assert _code(exc) == "103" and "reqtime" in exc.value.message
    check_clock(parse_frame(wire), Profile(max_clock_skew_seconds=600))


VALID = {
    "transcode": "ELY101",
    "msgcode": "adfd95a4b3634b58b0cf3b8c67b18a29",
    "appid": "BANK0001",
    "reqtime": "20220125120000",
    "version": "v1.0",
    "data": "abc",
    "sign": "def",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"transcode": None}, "transcode"),
        ({"msgcode": "adfd95a4-b363-4b58-b0cf-3b8c67b18a29"}, "msgcode"),
        ({"msgcode": "xyz"}, "msgcode"),
        ({"appid": "A" * 33}, "appid"),
        ({"reqtime": "2022-01-25 12:00"}, "reqtime"),
        ({"reqtime": "20220230120000"}, "reqtime"),
        ({"version": 1}, "version"),
        ({"data": ""}, "data"),
        ({"sign": None}, "sign"),
    ],
)
def test_malformed_frames_are_103_naming_the_field(change: dict[str, object], field: str) -> None:
    body = {**VALID, **change}
    with pytest.raises(ProtocolError) as exc:
        parse_frame(body)
    assert _code(exc) == "103" and exc.value.message.split(": ")[1] == field


@pytest.mark.parametrize("body", [[], "text", None, 42])
def test_non_object_bodies_are_103(body: object) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_frame(body)
    assert _code(exc) == "103"


def test_error_response_has_no_data() -> None:
    platform, issuer = channels()
    wire = encode_response(issuer, Code.UNKNOWN_APPLICATION, "业务处理失败: applicationId A9")
    assert set(wire) == {"code", "message"}
    answer = decode_response(platform, wire)
    assert answer.code is Code.UNKNOWN_APPLICATION and not answer.ok and answer.data is None


@pytest.mark.parametrize(
    "body",
    [
        {"code": "999", "message": "x"},
        [],
        {"code": "000", "message": "", "data": 5},
        {"code": "000", "message": "", "data": "AAAA"},
    ],
)
def test_malformed_responses_are_refused(body: object) -> None:
    platform, _ = channels()
    with pytest.raises(ResponseInvalid):
        decode_response(platform, body)


def test_envelope_response_needs_its_sealed_key() -> None:
    platform, issuer = channels()
    wire = encode_response(issuer, Code.OK, "", {"guaranteeFileName": "a.pdf"}, envelope=True)
    del wire["sign"]
    with pytest.raises(ResponseInvalid, match="sealed key"):
        decode_response(platform, wire, envelope=True)


def test_channel_repr_hides_secrets() -> None:
    platform, _ = channels()
    assert "as-demo-secret" not in repr(platform) and PLATFORM_KEY.to_hex() not in repr(platform)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"encoding": "b32"}, "encoding"),
        ({"sm2_layout": "c2c1c3"}, "c2c1c3"),
        ({"bogus": 1}, "bogus"),
        ({"sm4_mode": "gcm"}, "gcm"),
        ({"amount_name": "amount"}, "amount_name"),
        ({"limits": {"companyName": 256}}, "limits: 'companyName'"),
        ({"limits": {"ELY102.companyName": 0}}, "limits.ELY102.companyName"),
        ({"limits": {"ELY102.companyName": "256"}}, "limits.ELY102.companyName"),
    ],
)
def test_bad_profiles_are_refused_by_name(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Profile.from_dict(settings)


def test_profile_round_trips_through_json() -> None:
    profile = Profile(sm2_layout=Layout.ASN1, sm2_prefix=False, encoding="hex", sm4_mode=SM4Mode.CBC)
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    assert Profile().to_dict() | {} == {
        "sm2_layout": "c1c3c2",
        "sm2_prefix": True,
        "encoding": "base64",
        "sm4_mode": "ecb",
        "uid": "1234567812345678",
        "max_clock_skew_seconds": 300,
        "amount_name": "performanceBou",  # as the table prints it (issue 15)
        "limits": {},
    }
    widened = Profile.from_dict({"limits": {"ELY102.companyName": 256}, "amount_name": "performanceBond"})
    assert Profile.from_dict(json.loads(json.dumps(widened.to_dict()))) == widened
    assert hash(widened) == hash(Profile.from_dict(widened.to_dict()))


@pytest.mark.parametrize("reqtime", ["20260230120000", "20261301120000", "20260101240000", "20260101126000"])
def test_reqtime_that_is_no_real_time_is_103(reqtime: str) -> None:
    with pytest.raises(ProtocolError) as exc:
        parse_frame({**VALID, "reqtime": reqtime})
    assert _code(exc) == "103" and "reqtime: not a real date and time" in exc.value.message


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_reqtime_reads_back_as_the_shanghai_time_it_names(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    frame = parse_frame({**VALID, "reqtime": moment.strftime("%Y%m%d%H%M%S")})
    assert frame.sent_at == moment.replace(tzinfo=SHANGHAI)
