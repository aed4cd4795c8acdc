"""`baohan sandbox tender` as an integrator meets it: a process that prints PRODUCT.md's one JSON line,
then speaks spec 004 over real HTTP with the credentials printed."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from baohan.gm import SM2Certificate, SM2PrivateKey, SM2PublicKey
from baohan.protocols.tender.client import TenderClient
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.sealing import (
    decode_key,
    open_application,
    open_envelope,
    open_project_fields,
    seal_application,
    seal_project_fields,
)
from baohan.protocols.tender.sign import matches
from baohan.protocols.tender.tables import ISSUER_SERVES
from baohan.web.bidder import SM_CRYPTO_ENV, sm_crypto_dir
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer
from tests.procurement.harness import free_port, wait_for
from tests.tender.wire_peer import Recorder

PINNED = {
    "protocol", "role", "url", "appkey", "appsecret", "platformcode", "server_public_key",
    "client_private_key", "client_public_key", "project_key", "bidder_certificate", "bidder_private_key",
    "profile", "notify_url",
}  # fmt: skip
PROJECT = {
    "biaoduanno": "INT-BD-0001",
    "biaoduanname": "对接方测试标段",
    "zbr": "对接方测试招标人",
    "zbrorgnum": "91330100INTEGR0001",
}


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in ("BAOHAN_KEY_PASSPHRASE", "BAOHAN_ADMIN_TOKEN")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "baohan.cli.main", "sandbox", "tender", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, SM_CRYPTO_ENV: str(sm_crypto_dir())},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"sandbox printed nothing: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


@pytest.fixture
def sandbox(empty_db_url: str) -> Iterator[dict[str, Any]]:
    """The issuer sandbox on a database of ours (SQLite or PostgreSQL)."""
    proc, info = start(
        "--role", "issuer", "--port", str(free_port()), "--admin-port", str(free_port()), "--db", empty_db_url
    )  # fmt: skip
    try:
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _channel(info: dict[str, Any]) -> TenderChannel:
    """What the integrator holds: the printed appkey, appsecret, key pair and profile."""
    return TenderChannel(
        info["appkey"],
        info["appsecret"],
        SM2PrivateKey.load(info["client_private_key"]),
        SM2PublicKey.load(info["server_public_key"]),
        TenderProfile.from_dict(info["profile"]),
    )


def test_the_issuer_sandbox_answers_a_baohanapply_made_with_the_printed_credentials(
    sandbox: dict[str, Any],
) -> None:
    info = sandbox
    assert set(info) >= PINNED and info["protocol"] == "tender" and info["role"] == "issuer"
    assert info["url"].endswith("/tender") and len(info["project_key"]) == 32
    bidder_key = SM2PrivateKey.load(info["bidder_private_key"])
    certificate = SM2Certificate.load(info["bidder_certificate"])
    assert certificate.public_key.to_hex() == bidder_key.public_key.to_hex()

    # The platform's side, as an integrator writes it: seal the project, seal the application, sign, post.
    application = seal_project_fields(
        {
            "biddername": "投标人沙箱建设有限公司",
            "biddercode": "91330106SANDBOX00X",
            "bzjamount": "80000.00",
            **PROJECT,
        },
        decode_key(info["project_key"]),
    )
    applydata, envelope = seal_application(application, certificate.public_key)
    fields = {"applyno": "INT-0001", "applydata": applydata, "digitalenvelope": envelope}
    with httpx.Client(timeout=30) as http:
        data = TenderClient(http).call(info["url"], "baohanapply", fields, _channel(info))
        redirect = data["redirecturl"]
        assert redirect.startswith(info["url"].removesuffix("/tender") + "/bidder/")
        assert http.get(redirect).status_code == 200

        # The printed bidder opens the application and signs the agreement on the sandbox's bidder page.
        key = open_envelope(envelope, bidder_key)
        assert http.post(f"{redirect}/key", json={"key": key.hex()}).json()["state"] == "opened"
        agreement = http.get(f"{redirect}/agreement").content
        signature = base64.b64encode(bidder_key.sign(agreement)).decode()
        signed = http.post(
            f"{redirect}/signature", json={"certificate": certificate.to_pem(), "signature": signature}
        )
        assert signed.json()["state"] == "signed", signed.text

        # The institution's operator approves: baohannotice reaches the sandbox's own platform, listed.
        admin = {"Authorization": f"Bearer {info['admin_token']}"}
        approved = http.post(
            f"{info['admin_url']}/applications/INT-0001/approve", json={"rate": "0.0150"}, headers=admin
        )
        assert approved.status_code == 200, approved.text

        def notices() -> list[dict[str, Any]]:
            reply = http.get(info["received_url"], params={"interface": "baohannotice"}, headers=admin)
            assert reply.status_code == 200, reply.text
            return list(reply.json())

        [notice] = wait_for(notices, "baohannotice at the sandbox's platform")
        sent = notice["fields"]
        assert sent["applyno"] == "INT-0001" and sent["applystatus"] == "1" and sent["cost"] == "1200.00"
        assert matches(sent, info["appsecret"], info["profile"]["sign"])
        assert http.get(info["received_url"]).status_code == 401  # behind the admin token
    assert info["notify_url"].endswith("/tender")


def test_the_platform_sandbox_sends_its_bidder_s_application_to_the_integrator_s_institution() -> None:
    institution = Recorder()
    front = ProtocolFront(_nowhere, [TenderWire(institution, ISSUER_SERVES)])
    server = BackgroundServer(front, free_port(), lifespan="off")
    proc, info = start(
        "--role", "platform", "--port", str(free_port()), "--admin-port", str(free_port()),
        "--counterparty-url", f"{server.url}/tender",
    )  # fmt: skip
    try:
        assert set(info) >= PINNED and info["role"] == "platform"
        channel = _channel(info)
        institution.channels[channel.appkey] = channel
        admin = httpx.Client(
            base_url=info["admin_url"], headers={"Authorization": f"Bearer {info['admin_token']}"}
        )
        with admin:
            submitted = admin.post(
                "/applications",
                json={
                    "section_id": info["section_id"],
                    "quote_id": info["quote_id"],
                    "bidder_name": "投标人沙箱建设有限公司",
                    "bidder_code": "91330106SANDBOX00X",
                    "bzj_amount": "80000.00",
                    "certificate": info["bidder_certificate"],
                },
            )
            assert submitted.status_code == 202, submitted.text
        [request] = wait_for(
            lambda: institution.handled or None, "baohanapply at the integrator's institution"
        )
        assert request.interface == "baohanapply" and request.fields["platformcode"] == info["platformcode"]
        # The printed bidder key opens it; the printed project key opens the section's fields.
        key = open_envelope(request.fields["digitalenvelope"], SM2PrivateKey.load(info["bidder_private_key"]))
        opened = open_application(request.fields["applydata"], key)
        project = open_project_fields(opened, decode_key(info["project_key"]))
        assert project["biaoduanno"] == "SBX-BD-0001" and opened["biaoduanno"] != "SBX-BD-0001"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        server.stop()


async def _nowhere(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("only the tender wire is served here")


def test_sandbox_mistakes_are_one_line() -> None:
    env = {**os.environ, SM_CRYPTO_ENV: str(sm_crypto_dir())}
    for args, word in (
        (["--role", "bidder"], "--role"),
        (["--role", "issuer", "--counterparty-url", "http://x"], "--counterparty-url"),
        (["--role", "platform", "--counterparty-url", "ftp://x"], "--counterparty-url"),
        (["--port", "8700", "--admin-port", "8700"], "--admin-port"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "baohan.cli.main", "sandbox", "tender", *args],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and word in lines[0], result.stderr
