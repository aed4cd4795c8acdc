"""The tender wire over real HTTP on loopback: TenderClient calling TenderWire behind ProtocolFront.

Every interface's happy path, then one refusal for each class of rule, each as a counterparty sees it:
code 0 and a message naming the field and the rule, and the role never handed the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from baohan.protocols.tender.client import TenderClient, TenderRefused, TenderTransportError
from baohan.protocols.tender.sign import signed
from baohan.protocols.tender.tables import INTERFACES
from baohan.protocols.tender.wire import encode_body, format_timestamp
from baohan.web.serving import free_port
from tests.tender.wire_peer import PLATFORM_KEY, Served, channel, now_text, post_raw, serving, valid_fields

CHANNEL = channel("AK-JSON")
FORM = channel("AK-FORM", body="form", sign="sm3-key")
NUMBERS = channel("AK-NUM", amounts_as_numbers=True, sign="sm3")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving(CHANNEL, FORM, NUMBERS) as both:
        yield both


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


_counter = iter(range(1, 1_000_000))


def fresh(prefix: str = "A") -> str:
    """An applyno no earlier test used (the served roles live for the whole module)."""
    return f"{prefix}-{next(_counter):06d}"


@pytest.mark.parametrize("interface", sorted(INTERFACES))
def test_every_interface_is_served_and_handed_to_its_role(
    served: Served, http: httpx.Client, interface: str
) -> None:
    applyno = fresh()
    data = TenderClient(http).call(
        served.url_of(interface), interface, valid_fields(interface, applyno), CHANNEL
    )
    recorder = served.recorder_of(interface)
    handled = recorder.handled[-1]
    assert handled.interface == interface and handled.appkey == CHANNEL.appkey
    assert isinstance(handled.model, INTERFACES[interface].request)
    assert handled.key.split("|")[0] == (f"G-{applyno}" if interface == "invoicenotice" else applyno)
    if interface == "baohanapply":
        assert data == {"redirecturl": f"https://bank.example/open/{applyno}"}
    elif interface == "downloadpublickey":
        assert data == {"publickey": PLATFORM_KEY.public_key.to_hex()}
    else:
        assert data == {}


def test_models_hold_typed_values(served: Served, http: httpx.Client) -> None:
    applyno = fresh()
    TenderClient(http).call(
        served.platform_url, "baohannotice", valid_fields("baohannotice", applyno), CHANNEL
    )
    model = served.platform.handled[-1].model
    assert model.rate == Decimal("0.005") and model.cost == Decimal("500.00")
    assert model.generatetime == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def test_form_bodies_and_another_sign_method_per_profile(served: Served, http: httpx.Client) -> None:
    sent: list[httpx.Request] = []
    http.event_hooks["request"] = [sent.append]
    applyno = fresh()
    TenderClient(http).call(served.issuer_url, "quitapply", valid_fields("quitapply", applyno), FORM)
    assert sent[-1].headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent[-1].content.startswith(b"requestData=%7B")
    assert served.issuer.handled[-1].model.applyno == applyno
    # The same counterparty's message in the other shape is taken too: the appkey inside names the profile.
    message = TenderClient(http).message("quitapply", valid_fields("quitapply", fresh()), FORM)
    assert post_raw(f"{served.issuer_url}/quitapply", json.dumps(message).encode())["code"] == 1


def test_amounts_sent_as_json_numbers_are_read_exactly(served: Served, http: httpx.Client) -> None:
    sent: list[httpx.Request] = []
    http.event_hooks["request"] = [sent.append]
    fields = {**valid_fields("baohannotice", fresh()), "rate": Decimal("0.005"), "cost": Decimal("1234.50")}
    TenderClient(http).call(served.platform_url, "baohannotice", fields, NUMBERS)
    assert b'"cost":1234.50' in sent[-1].content and b'"rate":0.005' in sent[-1].content
    model = served.platform.handled[-1].model
    assert str(model.cost) == "1234.50" and str(model.rate) == "0.005"


def _refusal(served: Served, interface: str, fields: dict[str, Any], ch: Any = CHANNEL) -> str:
    before = len(served.recorder_of(interface).handled)
    client = TenderClient(httpx.Client(timeout=10))
    with pytest.raises(TenderRefused) as refused:
        client.call(served.url_of(interface), interface, fields, ch)
    assert len(served.recorder_of(interface).handled) == before, "a refused request reached the role"
    return refused.value.message


@pytest.mark.parametrize(
    ("interface", "change", "message"),
    [
        ("quitapply", {"applyno": None}, "applyno: required"),
        ("quitapply", {"applyno": "   "}, "applyno: required"),
        ("quitapply", {"reason": "\u3000"}, "reason: required"),
        ("quitapply", {"applyno": "x" * 51}, "applyno: must be at most 50 characters, got 51"),
        ("quitapply", {"reason": "a\x00b"}, "reason: must not contain the NUL character"),
        ("quitapply", {"applyno": 12}, "applyno: must be a string, not a JSON number"),
        ("baohannotice", {"applystatus": "2"}, "applystatus: must be 1 (approved) or 0 (refused)"),
        ("uploadbaohanfile", {"filetype": "3"}, "filetype: must be 1 (密文) or 2 (明文)"),
        ("uploadbaohanfile", {"index": "0"}, "index: must be a slice number counting from 1"),
        ("uploadbaohanfile", {"baohanfile": "not base64!"}, "baohanfile: must be standard Base64"),
        ("invoiceapply", {"type": "2"}, "type: must be 0 (普票) or 1 (专票)"),
        ("invoiceapply", {"address": ""}, "address: required when type is 1 (专票)"),
        ("invoiceapply", {"account": None}, "account: required when type is 1 (专票)"),
        ("quitnotice", {"tuibaotime": None}, "tuibaotime: required when applystatus is 1 (退保成功)"),
        ("quitnotice", {"tuibaotime": "2026-11-31 10:00:00"}, "tuibaotime: must be a date and time"),
        ("baohannotice", {"cost": "-1.00"}, "cost: must be an amount in yuan, not negative"),
        ("baohannotice", {"cost": "1.005"}, "cost: must be an amount"),
        ("baohannotice", {"cost": "1e3"}, "cost: must be an amount"),
        ("baohannotice", {"cost": Decimal("-5")}, "cost: must be an amount"),
        ("baohannotice", {"cost": True}, "cost: must be an amount"),
        (
            "baohannotice",
            {"rate": "0.0000001"},
            "rate: must be a rate, a fraction not negative with at most 6",
        ),
        ("claimsnotice", {"payeramount": "abc"}, "payeramount: must be an amount"),
        ("claimsnotice", {"filelist": "[1]"}, 'filelist: must be a JSON array of {"fileurl": "..."}'),
        ("baohanrestore", {"kaibiaotime": "2026/11/30 09:00:00"}, "kaibiaotime: must be a date and time"),
        ("giveupapply", {"platformcode": "P-OTHER"}, "platformcode: P-OTHER is not this counterparty's"),
    ],
)
def test_each_rule_is_refused_naming_the_field(
    served: Served, interface: str, change: dict[str, Any], message: str
) -> None:
    fields = {**valid_fields(interface, fresh()), **change}
    assert _refusal(served, interface, fields).startswith(message)


def test_invoice_type_0_needs_no_company_details(served: Served, http: httpx.Client) -> None:
    fields = {**valid_fields("invoiceapply", fresh()), "type": "0"}
    for name in ("address", "phone", "bank", "account"):
        fields.pop(name)
    TenderClient(http).call(served.issuer_url, "invoiceapply", fields, CHANNEL)
    assert served.issuer.handled[-1].model.address is None


def test_a_failed_quit_needs_no_time(served: Served, http: httpx.Client) -> None:
    fields = {**valid_fields("quitnotice", fresh()), "applystatus": "0", "tuibaotime": None}
    TenderClient(http).call(served.platform_url, "quitnotice", fields, CHANNEL)


def _post(served: Served, interface: str, message: dict[str, Any]) -> dict[str, Any]:
    return post_raw(
        f"{served.url_of(interface)}/{interface}", json.dumps(message, ensure_ascii=False).encode()
    )


def _message(interface: str, **change: Any) -> dict[str, Any]:
    fields = {"appkey": CHANNEL.appkey, "timestamp": now_text(), **valid_fields(interface, fresh()), **change}
    return signed({k: v for k, v in fields.items() if v is not None}, CHANNEL.appsecret, "hmac-sm3")


def test_the_sign_is_checked_before_anything_else(served: Served) -> None:
    bad = _message("quitapply", applyno="x" * 80, timestamp="yesterday")
    assert _post(served, "quitapply", {**bad, "sign": "0" * 64}) == {
        "code": 0,
        "message": "sign: does not match (hmac-sm3 over the fields in ASCII order)",
        "data": {},
    }
    assert (
        _post(served, "quitapply", {k: v for k, v in bad.items() if k != "sign"})["message"]
        == "sign: required"
    )
    # A field changed after signing breaks the sign.
    good = _message("quitapply")
    assert _post(served, "quitapply", {**good, "reason": "changed"})["message"].startswith(
        "sign: does not match"
    )
    # Upper-case hex is the same sign.
    assert _post(served, "quitapply", {**good, "sign": good["sign"].upper()})["code"] == 1


def test_unknown_appkey(served: Served) -> None:
    message = {**_message("quitapply"), "appkey": "AK-NOBODY"}
    assert _post(served, "quitapply", message)["message"] == "appkey: AK-NOBODY is not registered"
    assert _post(served, "quitapply", {k: v for k, v in message.items() if k != "appkey"})["message"] == (
        "appkey: required"
    )
    assert _post(served, "quitapply", {**message, "appkey": "K" * 51})["message"] == (
        "appkey: must be at most 50 characters, got 51"
    )


def test_a_bad_or_skewed_timestamp_is_refused(served: Served) -> None:
    assert _post(served, "quitapply", _message("quitapply", timestamp="2026-11-30T10:00:00"))[
        "message"
    ].startswith("timestamp: must be a date and time yyyy-MM-dd HH:mm:ss")
    old = format_timestamp(datetime.now(UTC) - timedelta(minutes=10))
    answer = _post(served, "quitapply", _message("quitapply", timestamp=old))
    assert answer["code"] == 0 and "seconds from our clock (at most 300 allowed)" in answer["message"]
    early = TenderClient(httpx.Client(timeout=10), clock=lambda: datetime.now(UTC) + timedelta(minutes=6))
    with pytest.raises(TenderRefused, match="timestamp: "):
        early.call(served.issuer_url, "quitapply", valid_fields("quitapply", fresh()), CHANNEL)


def test_a_replay_is_answered_the_same_without_a_second_handle(served: Served, http: httpx.Client) -> None:
    applyno = fresh()
    fields = valid_fields("baohanapply", applyno)
    first = TenderClient(http).call(served.issuer_url, "baohanapply", fields, CHANNEL)
    handled, calls = len(served.issuer.handled), served.issuer.calls
    # A retry later: a new timestamp, a new sign, the same content.
    later = TenderClient(http, clock=lambda: datetime.now(UTC) + timedelta(seconds=30))
    assert later.call(served.issuer_url, "baohanapply", fields, CHANNEL) == first
    # Even once its timestamp has left the window, a processed request is answered as before.
    stale = TenderClient(http, clock=lambda: datetime.now(UTC) - timedelta(hours=1))
    assert stale.call(served.issuer_url, "baohanapply", fields, CHANNEL) == first
    assert len(served.issuer.handled) == handled
    assert served.issuer.calls == calls, "the router handed a processed request to the role again"
    # The same applyno with other content is refused.
    with pytest.raises(TenderRefused, match="applyno: already used for a different request"):
        TenderClient(http).call(
            served.issuer_url, "baohanapply", {**fields, "applydata": "b3RoZXI="}, CHANNEL
        )
    # A stale request never processed is refused for its timestamp.
    with pytest.raises(TenderRefused, match="timestamp: "):
        stale.call(served.issuer_url, "baohanapply", valid_fields("baohanapply", fresh()), CHANNEL)


def test_file_slices_of_one_application_are_distinct_requests(served: Served, http: httpx.Client) -> None:
    applyno, client = fresh(), TenderClient(http)
    for index in ("1", "2"):
        fields = {**valid_fields("uploadbaohanfile", applyno), "index": index}
        client.call(served.platform_url, "uploadbaohanfile", fields, CHANNEL)
    keys = [r.key for r in served.platform.handled[-2:]]
    assert keys == [f"{applyno}|1|1", f"{applyno}|1|2"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "request body: not UTF-8 JSON"),
        (b"\xff\xfe{}", "request body: not UTF-8 JSON"),
        (b"[1, 2]", "request body: must be a JSON object"),
        (b"[" * 40 + b"]" * 40, "request body: nested deeper than 16 levels"),
        (b'{"a": "\\ud800"}', "request body: a \\u escape leaves a lone surrogate"),
        (b"requestData=%7B&x=1", "request body: a form must carry requestData alone"),
        (b"requestData=%FF", "request body: not a URL-encoded form of UTF-8 text"),
        (b"requestData=%5B%5D", "requestData: must be a JSON object"),
    ],
)
def test_a_body_that_is_not_a_message_is_refused(served: Served, body: bytes, message: str) -> None:
    answer = post_raw(f"{served.issuer_url}/quitapply", body)
    assert answer["code"] == 0 and answer["message"].startswith(message) and answer["data"] == {}


def test_paths_methods_and_size_answer_in_the_protocol_shape(served: Served) -> None:
    answer = post_raw(f"{served.issuer_url}/baohannotice", b"{}")  # served by the platform, not here
    assert answer == {
        "code": 0,
        "message": "path: /issuer/tender/baohannotice is not an interface of this server",
        "data": {},
    }
    reply = httpx.get(f"{served.issuer_url}/quitapply", timeout=10)
    assert reply.status_code == 405 and reply.json()["code"] == 0
    assert "POST only" in reply.json()["message"]


def test_paused_and_unexpected_failures_say_nothing_of_the_internals(
    served: Served, http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    served.issuer.is_paused = True
    try:
        with pytest.raises(TenderRefused, match="service paused"):
            TenderClient(http).call(
                served.issuer_url, "quitapply", valid_fields("quitapply", fresh()), CHANNEL
            )
    finally:
        served.issuer.is_paused = False
    served.issuer.fail_with = RuntimeError("database password is hunter2")
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(TenderRefused) as refused:
            TenderClient(http).call(
                served.issuer_url, "quitapply", valid_fields("quitapply", fresh()), CHANNEL
            )
    finally:
        served.issuer.fail_with = None
    assert refused.value.message == "internal error"
    assert "hunter2" in caplog.text  # the log has it, the answer does not


def test_client_transport_errors_are_distinct(served: Served, http: httpx.Client) -> None:
    client = TenderClient(http)
    with pytest.raises(TenderTransportError, match="ConnectError"):
        client.call(f"http://127.0.0.1:{free_port()}/tender", "quitapply", valid_fields("quitapply"), CHANNEL)
    with pytest.raises(TenderTransportError, match="HTTP 404") as failed:
        client.call(f"{served.base}/elsewhere", "quitapply", valid_fields("quitapply"), CHANNEL)
    assert failed.value.status == 404


def test_client_refuses_garbled_answers() -> None:
    answers = iter([b"<html>", b'{"code": 2}', b'{"code": 1, "message": "ok", "data": {"redirecturl": ""}}'])

    def reply(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=next(answers))

    client = TenderClient(httpx.Client(transport=httpx.MockTransport(reply)))
    for rule in ("answer: not UTF-8 JSON", "answer: code must be 1 or 0", "data.redirecturl: required"):
        with pytest.raises(TenderTransportError, match=rule):
            client.call("http://peer/tender", "baohanapply", valid_fields("baohanapply"), CHANNEL)


def test_the_body_shape_follows_the_profile() -> None:
    body, kind = encode_body({"a": "b"}, FORM.profile.body)
    assert kind == "application/x-www-form-urlencoded" and body == b"requestData=%7B%22a%22%3A%22b%22%7D"


def test_the_client_adds_a_platforms_code_from_the_profile(served: Served, http: httpx.Client) -> None:
    fields = {k: v for k, v in valid_fields("giveupapply", fresh()).items() if k != "platformcode"}
    TenderClient(http).call(served.issuer_url, "giveupapply", fields, CHANNEL)
    assert served.issuer.handled[-1].model.platformcode == CHANNEL.profile.platformcode


def test_replay_keys() -> None:
    from baohan.protocols.tender.endpoint import replay_key

    assert (
        replay_key({"applyno": "A", "filetype": "1", "index": "2"}, ("applyno", "filetype", "index"))
        == "A|1|2"
    )
    assert replay_key({"applyno": " "}, ("applyno",)) is None
    assert replay_key({}, ("applyno",)) is None
    assert replay_key({"applyno": "A" * 51}, ("applyno",)) is None
