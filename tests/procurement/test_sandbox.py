"""The sandbox as an integrator meets it: a process that prints one JSON line, then speaks the protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from baohan.gm import SM2PrivateKey, SM2PublicKey
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel
from tests.procurement.harness import application_fields, free_port, wait_for


def start(*args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "baohan.cli.main", "sandbox", "procurement", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "BAOHAN_KEY_PASSPHRASE"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"sandbox printed nothing: {proc.stderr.read() if proc.stderr else ''}")
    return proc, json.loads(line)


def own_db(url: str) -> list[str]:
    """The sandbox's own throwaway SQLite file (its default), or ``--db`` for a PostgreSQL database."""
    return [] if url.startswith("sqlite") else ["--db", url]


@pytest.fixture
def issuer_sandbox(empty_db_url: str) -> Iterator[dict[str, Any]]:
    port = free_port()
    proc, info = start("--role", "issuer", "--port", str(port), *own_db(empty_db_url))
    info["port"] = port
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

    def received() -> list[dict[str, Any]]:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "baohan.cli.main",
                "sandbox",
                "procurement",
                "--port",
                str(issuer_sandbox["port"]),
                "--show-received",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return [json.loads(line) for line in result.stdout.splitlines()]

    notices = wait_for(received, "ELY102 at the sandbox's receiver")
    assert notices[0]["transcode"] == "ELY102"
    assert notices[0]["data"] == {"applicationId": "SBX-0001", "applicationStatus": "01"}
    admin = httpx.get(
        f"{issuer_sandbox['admin_url']}/applications/SBX-0001",
        headers={"Authorization": f"Bearer {issuer_sandbox['admin_token']}"},
    )
    assert admin.status_code == 200 and admin.json()["stage"] == "approved"


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
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.startswith("error: no sandbox answers")
