"""The sandbox as an integrator meets it: a process that prints one JSON line, then speaks the protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from baohan.gm import SM2PrivateKey, SM2PublicKey
from baohan.gm.codec import decode
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel, compute_sign
from baohan.web.receiver import NoticeRecorder, NoticeTap, WireNotices, receiver_app
from baohan.web.serving import BackgroundServer
from tests.procurement.harness import application_fields, free_port, wait_for

WIRE_FIELDS = {"transcode", "msgcode", "appid", "reqtime", "version", "data", "sign"}


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    if "--admin-port" not in args:
        # A free port of its own: the default (--port + 1) may be taken by another process meanwhile.
        args = (*args, "--admin-port", str(free_port()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "baohan.cli.main", "sandbox", "procurement", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in ("BAOHAN_KEY_PASSPHRASE", "BAOHAN_ADMIN_TOKEN")},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"sandbox printed nothing: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


def show_received(
    info: dict[str, Any], *options: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "baohan.cli.main",
            "sandbox",
            "procurement",
            "--admin-port",
            str(info["admin_port"]),
            "--show-received",
            "--admin-token",
            token or info["admin_token"],
            *options,
        ],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "BAOHAN_ADMIN_TOKEN"},
    )


def listed(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The received listing over HTTP (cheaper to poll than the CLI)."""
    reply = httpx.get(info["received_url"], headers={"Authorization": f"Bearer {info['admin_token']}"})
    assert reply.status_code == 200, reply.text
    return list(reply.json())


def received(info: dict[str, Any], *options: str) -> list[dict[str, Any]]:
    """The received listing through ``--show-received``."""
    result = show_received(info, *options)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def own_db(url: str) -> list[str]:
    """The sandbox's own throwaway SQLite file (its default), or ``--db`` for a PostgreSQL database."""
    return [] if url.startswith("sqlite") else ["--db", url]


@pytest.fixture
def issuer_sandbox(empty_db_url: str) -> Iterator[dict[str, Any]]:
    port, admin_port = free_port(), free_port()
    proc, info = start(
        "--role", "issuer", "--port", str(port), "--admin-port", str(admin_port), *own_db(empty_db_url)
    )
    info["port"], info["admin_port"] = port, admin_port
    yield info
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def client_for(info: dict[str, Any]) -> ProcurementClient:
    channel = Channel(
        info["appid"],
        info["appkey"],
        info["appsecret"],
        SM2PrivateKey.load(info["client_private_key"]),
        SM2PublicKey.load(info["server_public_key"]),
    )
    return ProcurementClient(info["url"], channel)


def test_issuer_sandbox_prints_the_contract(issuer_sandbox: dict[str, Any]) -> None:
    info = issuer_sandbox
    assert info["protocol"] == "procurement" and info["role"] == "issuer" and info["version"] == "v1.0"
    assert info["url"] == f"http://127.0.0.1:{info['port']}/zcdservice/v1/lg/ELYApi"
    assert info["profile"] == {
        "sm2_layout": "c1c3c2",
        "sm2_prefix": True,
        "encoding": "base64",
        "sm4_mode": "ecb",
    }
    assert SM2PrivateKey.load(info["client_private_key"]).public_key.to_hex() == info["client_public_key"]
    assert info["server_public_key"].startswith("04") and info["notify_url"].startswith("http://127.0.0.1:")


def test_an_integrator_applies_and_receives_the_notice(issuer_sandbox: dict[str, Any]) -> None:
    answer = client_for(issuer_sandbox).send("ELY101", application_fields("SBX-0001"))
    assert answer.ok, answer.message

    wait_for(lambda: listed(issuer_sandbox), "ELY102 at the sandbox's receiver")
    notices = received(issuer_sandbox)
    assert notices[0]["transcode"] == "ELY102"
    assert notices[0]["data"] == {"applicationId": "SBX-0001", "applicationStatus": "01"}
    admin = httpx.get(
        f"{issuer_sandbox['admin_url']}/applications/SBX-0001",
        headers={"Authorization": f"Bearer {issuer_sandbox['admin_token']}"},
    )
    assert admin.status_code == 200 and admin.json()["stage"] == "approved"


def test_the_listing_shows_each_notice_as_sent_on_the_wire(issuer_sandbox: dict[str, Any]) -> None:
    info = issuer_sandbox
    client = client_for(info)
    for app_id in ("SBX-0001", "SBX-0002"):
        assert client.send("ELY101", application_fields(app_id)).ok
    both = wait_for(lambda: len(listed(info)) >= 2 and listed(info), "two ELY102")
    for notice in both:
        wire = notice["wire"]
        assert set(wire) == WIRE_FIELDS and wire["transcode"] == notice["transcode"] == "ELY102"
        assert wire["msgcode"] == notice["msgcode"] and wire["appid"] == info["appid"]
        # What the integrator's own code must reproduce: the sign over the ciphertext, and the plaintext
        # under the client key the sandbox printed.
        assert wire["sign"] == compute_sign(wire["data"], wire["reqtime"], info["appkey"], info["appsecret"])
        plain = SM2PrivateKey.load(info["client_private_key"]).decrypt(decode(wire["data"], "base64", "data"))
        assert json.loads(plain) == notice["data"]
        assert notice["answer"] == {"status": 200, "body": {"code": "000", "message": "成功"}}
    [second] = received(info, "--id", "SBX-0002")
    assert second["data"]["applicationId"] == "SBX-0002"
    [by_msgcode] = received(info, "--id", second["msgcode"], "--transcode", "ELY102")
    assert by_msgcode == second
    assert received(info, "--transcode", "ELY106") == []


def test_the_listing_is_behind_the_admin_token(issuer_sandbox: dict[str, Any]) -> None:
    url = issuer_sandbox["received_url"]
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {issuer_sandbox['admin_token']}"}).json() == []
    refused = show_received(issuer_sandbox, token="wrong")
    assert refused.returncode == 2 and refused.stderr.startswith("error: the sandbox on 127.0.0.1:")
    assert "refused --admin-token" in refused.stderr
    receiver = httpx.get(issuer_sandbox["notify_url"].split("/zcdservice")[0] + "/received")
    assert receiver.status_code == 404  # the receiver no longer lists what it got to anyone who asks
    on_protocol_port = httpx.get(f"http://127.0.0.1:{issuer_sandbox['port']}/admin/sandbox/received")
    assert on_protocol_port.status_code == 404  # counterparties reach the protocol port, not the listing


class IntegratorReceiver:
    """The integrator's own platform receiver, as a stranger to baohan: keeps the raw bodies, answers 000."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append({"path": scope["path"], "body": json.loads(body)})
        answer = json.dumps({"code": "000", "message": "收到"}, ensure_ascii=False).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def test_notices_go_to_the_integrators_notify_url() -> None:
    integrator = IntegratorReceiver()
    server = BackgroundServer(integrator, free_port(), lifespan="off")
    their_url = f"{server.url}/platform/notices"
    port, admin_port = free_port(), free_port()
    proc, info = start(
        "--role", "issuer", "--port", str(port), "--admin-port", str(admin_port), "--notify-url", their_url
    )
    info["port"], info["admin_port"] = port, admin_port
    try:
        assert info["notify_url"] == their_url
        assert client_for(info).send("ELY101", application_fields("SBX-0009")).ok
        wait_for(lambda: integrator.bodies, "the ELY102 at the integrator's receiver")
        [got] = integrator.bodies
        assert got["path"] == "/platform/notices" and set(got["body"]) == WIRE_FIELDS
        key = SM2PrivateKey.load(info["client_private_key"])
        payload = json.loads(key.decrypt(decode(got["body"]["data"], "base64", "data")))
        assert payload == {"applicationId": "SBX-0009", "applicationStatus": "01"}
        [listed] = received(info)
        assert listed["wire"] == got["body"] and listed["data"] == payload
        assert listed["forwarded_to"] == their_url
        assert listed["answer"] == {"status": 200, "body": {"code": "000", "message": "收到"}}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        server.stop()


def test_an_unreachable_notify_url_is_a_5xx_the_outbox_retries() -> None:
    channel = Channel("SBX1", "k", "s", SM2PrivateKey.generate(), SM2PrivateKey.generate().public_key)
    notices = WireNotices(channel)
    nowhere = f"http://127.0.0.1:{free_port()}/notices"
    tap = BackgroundServer(NoticeTap(IntegratorReceiver(), notices, forward_to=nowhere), free_port())
    try:
        reply = httpx.post(f"{tap.url}/zcdservice/v1/lg/ELYApi", content=b'{"transcode":"ELY102"}')
    finally:
        tap.stop()
    assert reply.status_code == 502 and reply.json()["code"] == "302"
    assert f"could not reach {nowhere}" in reply.json()["message"]
    [entry] = notices.listing()
    assert entry["answer"]["status"] == 502 and entry["forwarded_to"] == nowhere
    assert entry["data"] is None and entry["error"].startswith("数据接收失败, 请求参数校验未通过: msgcode")
    assert entry["received_at"].endswith("+08:00")


def test_the_listing_keeps_what_is_not_a_notice_as_text() -> None:
    channel = Channel("SBX1", "k", "s", SM2PrivateKey.generate(), SM2PrivateKey.generate().public_key)
    notices = WireNotices(channel)
    tap = BackgroundServer(
        NoticeTap(receiver_app(NoticeRecorder(channel), frozenset({"ELY102"})), notices), free_port()
    )
    nested = "[" * 5000 + "]" * 5000
    try:
        reply = httpx.post(f"{tap.url}/zcdservice/v1/lg/ELYApi", content=nested.encode())
    finally:
        tap.stop()
    assert reply.status_code == 200 and reply.json()["code"] != "000"
    [entry] = notices.listing()
    assert entry["wire"] == nested and entry["data"] is None and entry["transcode"] is None
    assert entry["answer"]["body"] == reply.json() and "error" in entry


def test_the_sandbox_removes_its_files_when_it_stops() -> None:
    port = free_port()
    proc, info = start("--role", "issuer", "--port", str(port))
    workdir = Path(info["workdir"])
    try:
        assert workdir.is_dir() and (workdir / "sandbox.db").is_file()
        assert info["db"] == f"sqlite:///{workdir}/sandbox.db"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"sandbox: its files are in {workdir} (removed when it stops)" in err
    assert not workdir.exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--role", "platform", "--notify-url", "http://127.0.0.1:9/x"], "--notify-url is for --role issuer"),
        (["--notify-url", "ftp://example/x"], "--notify-url must be an http:// or https:// URL"),
        (["--admin-token", " "], "--admin-token (BAOHAN_ADMIN_TOKEN) is empty"),
    ],
)
def test_sandbox_option_mistakes_are_one_line(args: list[str], problem: str) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "baohan.cli.main",
            "sandbox",
            "procurement",
            "--port",
            str(free_port()),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.startswith(f"error: {problem}")
    assert len(result.stderr.splitlines()) == 1


def test_platform_sandbox_knows_its_institution(empty_db_url: str) -> None:
    port = free_port()
    proc, info = start("--role", "platform", "--port", str(port), *own_db(empty_db_url))
    try:
        assert info["role"] == "platform" and "institution_id" in info
        answer = client_for(info).send(
            "ELY102", {"applicationId": "NOT-SUBMITTED", "applicationStatus": "01"}
        )
        assert answer.code.value == "203"  # authenticated and decrypted: only the application is unknown
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_show_received_without_a_sandbox_is_one_line_error() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "baohan.cli.main",
            "sandbox",
            "procurement",
            "--port",
            str(free_port()),
            "--show-received",
            "--admin-token",
            "t",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: no sandbox answers")
