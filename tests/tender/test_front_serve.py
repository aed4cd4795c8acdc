"""`baohan serve procurement --role issuer --also tender`: ONE issuer process on one database with one
dispatcher answers an ELY101 and a baohanapply over real HTTP, and serves the bidder page the answer
points at; `serve tender` alone; operator mistakes are one line before anything starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.tender.client import TenderClient, TenderRefused
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.profile import TenderProfile
from baohan.services.procurement.pairing import AppCredentials, issuer_side
from baohan.services.procurement.runtime import open_runtime
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.runtime import open_issuer
from baohan.web.bidder import SM_CRYPTO_ENV, sm_crypto_dir
from tests.procurement.harness import application_fields, free_port, wait_for
from tests.tender.bidder_kit import make_bidder, seal_application

PASSPHRASE = "serve both protocols passphrase"
TOKEN = "serve-both-admin-token-0001"
INSTITUTION = "示范担保有限公司"
APPKEY, APPSECRET = "TENDER-PLATFORM-1", "tender-appsecret-0001"
ENV = {
    **os.environ,
    "BAOHAN_KEY_PASSPHRASE": PASSPHRASE,
    "BAOHAN_ADMIN_TOKEN": TOKEN,
    SM_CRYPTO_ENV: str(sm_crypto_dir()),
}


def baohan(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def issuer(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """An issuer's database: our certified key, a procurement platform and a tender platform; the bidder
    CA's certificate in a file."""
    box = SecretBox(PASSPHRASE)
    runtime = open_runtime("issuer", db_url, box)
    side = issuer_side(
        runtime.registry,
        platform_url="http://127.0.0.1:9/zcdservice/v1/lg/ELYApi",
        credentials=AppCredentials("BOTH0001", "both-appkey", "both-appsecret-0001"),
        institution=INSTITUTION,
        ca_name="Serve CA",
    )
    runtime.stop()
    tender_key = SM2PrivateKey.generate()
    profile = TenderProfile(platformcode="P-SERVE")
    tender = open_issuer(db_url, box, IssuerSettings("http://127.0.0.1", INSTITUTION))
    tender.registry.add(
        name="交易平台",
        role="platform",
        appkey=APPKEY,
        appsecret=APPSECRET,
        public_key=tender_key.public_key,
        endpoint_url="http://127.0.0.1:9/tender",
        profile=profile,
    )
    tender.stop()
    bidder = make_bidder()
    ca = tmp_path / "bidder-ca.pem"
    ca.write_text(bidder.ca.to_pem())
    return {
        "db": db_url,
        "procurement": side.platform_channel(),
        "tender": TenderChannel(APPKEY, APPSECRET, tender_key, None, profile),
        "bidder": bidder,
        "bidder_ca": str(ca),
    }


@pytest.fixture
def served(issuer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    port, admin_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "baohan.cli.main", "serve", "procurement", "--role", "issuer",
            "--also", "tender", "--db", issuer["db"], "--port", str(port), "--admin-port", str(admin_port),
            "--institution-name", INSTITUTION, "--credit-code", "91110000MA01SERVE1",
            "--bidder-ca", issuer["bidder_ca"],
        ],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _health(admin_port) or proc.poll() is not None, "the server", timeout=60)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        yield {**issuer, "port": port, "admin_port": admin_port}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _health(port: int) -> dict[str, Any] | None:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.HTTPError:
        return None
    return reply.json() if reply.status_code == 200 else None  # type: ignore[no-any-return]


def test_one_issuer_process_answers_both_protocols(served: dict[str, Any]) -> None:
    port, admin_port = served["port"], served["admin_port"]
    health = _health(admin_port)
    assert health is not None and health["roles"] == ["procurement:issuer", "tender:issuer"]

    with httpx.Client(timeout=30) as http:
        url = f"http://127.0.0.1:{port}/zcdservice/v1/lg/ELYApi"
        ely101 = ProcurementClient(url, served["procurement"], http=http).send(
            "ELY101", application_fields("BOTH-1")
        )
        assert ely101.code == "000", ely101

        sealed = seal_application(served["bidder"], applyno="BOTH-T-1")
        data = TenderClient(http).call(
            f"http://127.0.0.1:{port}/tender",
            "baohanapply",
            {
                "applyno": sealed.applyno,
                "applydata": sealed.applydata,
                "digitalenvelope": sealed.digitalenvelope,
            },
            served["tender"],
        )
        redirect = data["redirecturl"]
        assert redirect.startswith(f"http://127.0.0.1:{port}/bidder/")
        page = http.get(redirect)
        assert page.status_code == 200 and sealed.applydata in page.text

    admin = httpx.Client(
        base_url=f"http://127.0.0.1:{admin_port}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with admin:
        assert admin.get("/admin/applications/BOTH-1").json()["application_id"] == "BOTH-1"
        tender_app = admin.get("/admin/tender/applications/BOTH-T-1").json()
        assert tender_app["stage"] == "applied" and tender_app["project_fields"] is None
        # One database, one outbox: the procurement notice waits beside nothing of tender's.
        assert admin.get("/ready").json()["outbox"]["pending"] >= 1


def test_serve_mistakes_are_one_line(issuer: dict[str, Any]) -> None:
    db = issuer["db"]
    one_line_error(baohan("serve", "tender", "--role", "issuer", "--db", db), "--institution-name")
    one_line_error(
        baohan("serve", "tender", "--role", "issuer", "--db", db, "--institution-name", INSTITUTION),
        "--credit-code",
    )
    one_line_error(
        baohan("serve", "procurement", "--role", "issuer", "--db", db, "--also", "tender"), "tender"
    )
    one_line_error(baohan("serve", "tender", "--role", "platform", "--db", db, "--also", "tender"), "--also")
    one_line_error(baohan("serve", "tender", "--role", "platform", "--db", db, "--also", "bidding"), "--also")
    one_line_error(
        baohan(
            "serve", "tender", "--role", "issuer", "--db", db, "--institution-name", INSTITUTION,
            "--credit-code", "91110000MA01SERVE1", "--bidder-ca", "/nonexistent/ca.pem",
        ),
        "--bidder-ca",
    )  # fmt: skip
    missing = {**ENV, SM_CRYPTO_ENV: "/nonexistent"}
    one_line_error(
        baohan(
            "serve", "tender", "--role", "issuer", "--db", db, "--institution-name", INSTITUTION,
            "--credit-code", "91110000MA01SERVE1", env=missing,
        ),
        "sm-crypto",
    )  # fmt: skip


def test_one_platform_process_for_both_protocols(issuer: dict[str, Any]) -> None:
    port, admin_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "baohan.cli.main", "serve", "tender", "--role", "platform",
            "--also", "procurement", "--db", issuer["db"], "--port", str(port), "--admin-port", str(admin_port),
        ],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _health(admin_port) or proc.poll() is not None, "the server", timeout=60)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert _health(admin_port) == {
            "status": "alive",
            "roles": ["tender:platform", "procurement:platform"],
        }
        stranger = TenderChannel("NOBODY", "nobody-secret-0001", SM2PrivateKey.generate())
        with (
            httpx.Client(timeout=30) as http,
            pytest.raises(TenderRefused, match="appkey: NOBODY is not registered"),
        ):
            TenderClient(http).call(
                f"http://127.0.0.1:{port}/tender", "downloadpublickey", {"applyno": "A-1"}, stranger
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
