"""The operator's day through the CLI, beside a real `baohan serve` process on the same database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from baohan.gm import SM2PrivateKey, SM2PublicKey
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel
from tests.procurement.harness import application_fields, free_port, wait_for

ENV = {**os.environ, "BAOHAN_KEY_PASSPHRASE": "operator cli passphrase", "BAOHAN_ADMIN_TOKEN": "t" * 24}
PLATFORM_KEY = SM2PrivateKey.generate()


def baohan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args], capture_output=True, text=True, env=ENV, timeout=120
    )


def ok(*args: str) -> Any:
    result = baohan(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.lstrip().startswith(("{", "[")) else result.stdout


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    db = db_url
    identity = ok("issuer", "set-identity", "--db", db, "--test-ca")
    ok(
        "issuer",
        "add-platform",
        "--db",
        db,
        "--name",
        "测试平台",
        "--appid",
        "CLI00001",
        "--appkey",
        "ak",
        "--appsecret",
        "cli-appsecret-001",
        "--public-key",
        PLATFORM_KEY.public_key.to_hex(),
        "--url",
        f"http://127.0.0.1:{free_port()}/zcdservice/v1/lg/ELYApi",
    )
    # The default product, with ELY109 cancellations and surrenders decided by the operator.
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "refunds_by_operator": True,
                "products": [
                    {
                        "code": "PERF",
                        "name": "政府采购履约保函",
                        "rate": "0.005",
                        "minimum_premium": "200.00",
                        "max_amount": "50000000.00",
                        "auto_approve_up_to": "5000000.00",
                    }
                ],
            }
        )
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "baohan.cli.main",
            "serve",
            "procurement",
            "--role",
            "issuer",
            "--db",
            db,
            "--port",
            str(port),
            "--rules",
            str(rules),
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: _up(port), "baohan serve to answer", timeout=30)
    yield {"db": db, "port": port, "public_key": identity["public_key"]}
    proc.terminate()
    proc.wait(timeout=30)


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        time.sleep(0.1)
        return False


def test_review_approve_pay_issue_and_refusals(served: dict[str, Any], tmp_path: Path) -> None:
    channel = Channel(
        "CLI00001", "ak", "cli-appsecret-001", PLATFORM_KEY, SM2PublicKey.load(served["public_key"])
    )
    client = ProcurementClient(f"http://127.0.0.1:{served['port']}/zcdservice/v1/lg/ELYApi", channel)
    assert client.send("ELY101", application_fields("CLI-1", performanceBond="6000000.00")).ok
    db = served["db"]
    waiting = ok("issuer", "applications", "--db", db, "--stage", "review")
    assert [a["application_id"] for a in waiting] == ["CLI-1"] and waiting[0]["premium"] == "30000.00"
    assert waiting[0]["created_at"].endswith("+08:00")  # Beijing time, as on the wire and the letter
    unknown = baohan("issuer", "applications", "--db", db, "--stage", "bogus")
    assert unknown.returncode == 2 and unknown.stderr.startswith(
        "error: --stage 'bogus' is not one of: review"
    )

    assert ok("issuer", "approve", "CLI-1", "--db", db, "--actor", "张经理")["stage"] == "approved"
    refused = baohan("issuer", "reject", "CLI-1", "--db", db, "--reason", "late")
    assert refused.returncode == 2 and "cannot reject an application that is approved" in refused.stderr
    wrong = baohan("issuer", "pay", "CLI-1", "--db", db, "--amount", "100.00")
    assert wrong.returncode == 2 and "does not match the premium 30000.00" in wrong.stderr
    issued = ok(
        "issuer", "pay", "CLI-1", "--db", db, "--amount", "30000.00", "--paid-at", "2026-11-23T10:00:00+08:00"
    )
    assert issued["stage"] == "issued" and issued["guarantee_id"].startswith("BH")
    assert issued["paid_at"] == "2026-11-23T10:00:00+08:00"

    out = tmp_path / "letter.pdf"
    assert "written to" in ok("issuer", "file", "CLI-1", "--db", db, "--out", str(out))
    assert out.read_bytes().startswith(b"%PDF")
    shown = ok("issuer", "show", issued["guarantee_id"], "--db", db)
    assert [e["event"] for e in shown["history"]] == ["receive", "approve", "pay", "issue"]
    assert shown["history"][1]["actor"] == "张经理"
    # The platform's URL is not served: the notices wait in the outbox, none is lost or dead yet.
    assert ok("issuer", "dead-letters", "--db", db) == []


def test_a_surrender_decided_by_the_operator(served: dict[str, Any]) -> None:
    channel = Channel(
        "CLI00001", "ak", "cli-appsecret-001", PLATFORM_KEY, SM2PublicKey.load(served["public_key"])
    )
    client = ProcurementClient(f"http://127.0.0.1:{served['port']}/zcdservice/v1/lg/ELYApi", channel)
    db = served["db"]
    assert client.send("ELY101", application_fields("CLI-2")).ok
    ok("issuer", "pay", "CLI-2", "--db", db, "--amount", "625.00", "--paid-at", "2026-11-23T10:00:00+08:00")
    assert client.send(
        "ELY109", {"applicationId": "CLI-2", "applicationType": "01", "refundReason": "项目终止"}
    ).ok
    waiting = ok("issuer", "refunds", "--db", db, "--status", "pending")
    assert [(r["kind"], r["reason"]) for r in waiting] == [("surrender", "项目终止")]
    live = ok("issuer", "show", "CLI-2", "--db", db)
    assert (waiting[0]["application_id"], waiting[0]["guarantee_id"]) == ("CLI-2", live["guarantee_id"])
    assert ok("issuer", "refunds", "--db", db, "--guarantee-id", live["guarantee_id"]) == waiting
    assert ok("issuer", "refunds", "--db", db, "--application-id", "CLI-1") == []
    assert ok("issuer", "show", "CLI-2", "--db", db)["stage"] == "issued"

    no_reason = baohan("issuer", "decide-refund", waiting[0]["id"], "--db", db, "--refuse")
    assert no_reason.returncode == 2 and no_reason.stderr.strip() == "error: a refusal needs a reason"
    decided = ok("issuer", "decide-refund", waiting[0]["id"], "--db", db, "--accept", "--actor", "李主管")
    assert decided["status"] == "accepted" and decided["decided_by"] == "李主管"
    shown = ok("issuer", "show", "CLI-2", "--db", db)
    assert shown["stage"] == "surrendered"
    assert [e["event"] for e in shown["history"]][-2:] == ["surrender_requested", "surrender"]
    again = baohan("issuer", "decide-refund", waiting[0]["id"], "--db", db, "--refuse", "--reason", "x")
    assert again.returncode == 2 and "already decided (accepted)" in again.stderr


def test_cli_errors_are_one_line(db_url: str, tmp_path: Path) -> None:
    db = db_url
    missing = baohan("issuer", "approve", "NOPE", "--db", db)
    assert missing.returncode == 2 and missing.stderr.strip() == "error: no application NOPE"
    no_cert = baohan("issuer", "set-identity", "--db", db)
    assert no_cert.returncode == 2 and "--test-ca" in no_cert.stderr
    no_pass = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", "issuer", "applications", "--db", db],
        capture_output=True,
        text=True,
        env={k: v for k, v in ENV.items() if k != "BAOHAN_KEY_PASSPHRASE"},
    )
    assert no_pass.returncode == 2 and "BAOHAN_KEY_PASSPHRASE is not set" in no_pass.stderr
    ok("issuer", "set-identity", "--db", db, "--test-ca")
    register = [
        "issuer",
        "add-platform",
        "--db",
        db,
        "--name",
        "p",
        "--appid",
        "DUP00001",
        "--appkey",
        "k",
        "--appsecret",
        "s" * 16,
        "--public-key",
        PLATFORM_KEY.public_key.to_hex(),
        "--url",
        "http://x/y",
    ]
    bad_profile = baohan(*register, "--profile", "{not json")
    assert bad_profile.returncode == 2 and bad_profile.stderr.startswith("error: --profile")
    unknown = baohan(*register, "--profile", '{"sm2_layout": "c2c1c3"}')
    assert unknown.returncode == 2 and "c2c1c3" in unknown.stderr
    # §9.2.1's appid is 32: SQLite would store a longer one, which our own receiver then refuses (issue 15).
    too_long = baohan(*[("A" * 33 if arg == "DUP00001" else arg) for arg in register])
    assert too_long.returncode == 2 and "error: appid must be 1 to 32 characters" in too_long.stderr
    ok(*register)
    again = baohan(*register)
    assert again.returncode == 2 and "already registered" in again.stderr
    bad_rules = tmp_path / "rules.json"
    bad_rules.write_text('{"products": [{"code": "P", "name": "n", "rate": 0.005, "minimum_premium": "1"}]}')
    served = baohan("serve", "procurement", "--role", "issuer", "--db", db, "--rules", str(bad_rules))
    assert served.returncode == 2 and "rate" in served.stderr and "never a float" in served.stderr


def test_operators_get_named_tokens_from_the_cli(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/ops.db"
    refused = baohan("admin", "add-operator", "alice", "--db", db)
    assert refused.returncode == 2 and "baohan db upgrade" in refused.stderr  # a mistyped path makes nothing
    assert not (tmp_path / "ops.db").exists()
    ok("db", "upgrade", "--db", db)
    token = ok("admin", "add-operator", "alice", "--db", db).strip()
    assert len(token) >= 40
    [alice] = ok("admin", "operators", "--db", db)
    assert alice["name"] == "alice" and alice["created_at"].endswith("+08:00") and token not in str(alice)
    again = baohan("admin", "add-operator", "alice", "--db", db)
    assert again.returncode == 2 and again.stderr.startswith("error: operator 'alice' exists already")
    assert "revoked" in ok("admin", "revoke-operator", "alice", "--db", db)
    assert ok("admin", "operators", "--db", db) == []
    gone = baohan("admin", "revoke-operator", "alice", "--db", db)
    assert gone.returncode == 2 and gone.stderr.strip() == "error: no operator 'alice'"
