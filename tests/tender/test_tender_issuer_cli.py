"""`baohan tender-issuer …`: the issuer's operator drives a guarantee through the CLI on the database of a
served issuer and platform (tests/tender/flow_kit.py), on SQLite and PostgreSQL: approve → payment →
issue reaches the platform complete, then an invoice and a refused quit; every mistake is one line, exit 2,
and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from baohan.cli.main import build
from tests.cli.test_cli_errors import Ran, one_line_error
from tests.procurement.harness import PASSPHRASE
from tests.tender.flow_kit import INSTITUTION, Flow, serving

CREDIT_CODE = "91330100MA2INST001"  # the flow's seller code


@pytest.fixture
def flow(db_url: str, tmp_path: Path) -> Iterator[Flow]:
    with serving(db_url, tmp_path) as served:
        yield served


def issuer_cli(flow: Flow, *args: str, settings: tuple[str, ...] | None = None, **env: str) -> Ran:
    """``baohan tender-issuer [settings] args --db <the flow's database>``, in this process."""
    given = (
        ("--institution-name", INSTITUTION, "--credit-code", CREDIT_CODE, "--public-url", flow.base)
        if settings is None
        else settings
    )
    argv = ["tender-issuer", *given, *args, "--db", str(flow.runtime.engine.url.render_as_string(False))]
    result = CliRunner().invoke(
        build(["baohan", *argv]), argv, env={"BAOHAN_KEY_PASSPHRASE": PASSPHRASE, **env}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def ok(flow: Flow, *args: str) -> Any:
    done = issuer_cli(flow, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_approve_pay_and_issue_through_the_cli_then_an_invoice_and_a_quit(flow: Flow) -> None:
    section = flow.section()
    applyno = flow.agreed(section)
    listed = ok(flow, "applications", "--stage", "agreed")
    assert [item["applyno"] for item in listed["items"]] == [applyno] and listed["total"] == 1
    assert listed["items"][0]["project_fields"] is None  # sealed until restored

    approved = ok(flow, "approve", applyno, "--rate", "0.0150", "--actor", "张审核")
    assert approved["stage"] == "approved" and approved["rate"] == "0.0150"
    assert approved["cost"] == "1200.00"  # 0.0150 × 80000.00
    flow.reaches("platform", applyno, "approved")
    paid = ok(
        flow, "payment", approved["baohanno"], "--amount", "1200.00",
        "--payer-name", "投标人甲建设有限公司", "--payer-account", "6222000011119999",
    )  # fmt: skip
    assert paid["stage"] == "paid" and paid["payer_account"] == "6222000011119999"
    issued = ok(flow, "issue", applyno)
    assert issued["id"] == approved["id"]
    on_platform = flow.reaches("platform", applyno, "sealed_completed")
    assert on_platform["baohanno"] == approved["baohanno"]

    shown = ok(flow, "show", applyno)
    assert shown["stage"] == "sealed_completed" and shown["aftercare"]["invoices"] == []
    history = ok(flow, "history", approved["id"])
    assert [e["event"] for e in history][-4:] == ["approve", "pay", "upload_sealed", "complete_sealed"]
    assert {e["actor"] for e in history if e["event"] in ("approve", "pay")} == {"张审核", "cli"}

    # A quit asked before the bid opens, refused with a reason: the guarantee stands.
    asked = flow.platform.post(f"/applications/{applyno}/quit", json={"reason": "项目暂停"})
    assert asked.status_code == 202, asked.text
    flow.reaches("issuer", applyno, "quit_requested")
    refused = ok(flow, "quit", applyno, "--refuse", "--reason", "已进入评标准备")
    assert refused["stage"] == "sealed_completed"
    flow.reaches("platform", applyno, "sealed_completed")

    # The bid opens; the bidder asks for the invoice; the operator issues it.
    assert flow.platform.post(f"/sections/{section}/open").json() == {"restoring": 1}
    flow.reaches("platform", applyno, "restored")
    asked = flow.platform.post(f"/applications/{applyno}/invoice", json={"type": "0"})
    assert asked.status_code == 202, asked.text
    flow.reaches("issuer", applyno, "invoice_requested")
    assert ok(flow, "invoice", applyno)["stage"] == "invoiced"
    flow.reaches("platform", applyno, "invoiced")
    shown = ok(flow, "show", applyno)
    assert shown["project_fields"] is not None  # restored: now in clear
    assert [i["status"] for i in shown["aftercare"]["invoices"]] == ["issued"]
    assert [q["status"] for q in shown["aftercare"]["quits"]] == ["refused"]

    assert ok(flow, "dead-letters")["items"] == []
    assert ok(flow, "pause") == {"paused": True}
    assert ok(flow, "pause", "--off") == {"paused": False}


def test_mistakes_are_one_line_and_change_nothing(flow: Flow) -> None:
    applyno = flow.agreed(flow.section())

    def unchanged() -> None:
        assert flow.stage("issuer", applyno) == "agreed"

    # An unknown key.
    one_line_error(issuer_cli(flow, "show", "NO-SUCH"), "no tender application NO-SUCH")
    one_line_error(issuer_cli(flow, "approve", "NO-SUCH", "--rate", "0.01"), "no tender application NO-SUCH")
    one_line_error(issuer_cli(flow, "retry", "no-such-message"), "no-such-message")
    # A move the lifecycle does not allow now.
    one_line_error(issuer_cli(flow, "issue", applyno), "is agreed; a guarantee is issued once paid")
    one_line_error(
        issuer_cli(flow, "payment", applyno, "--amount", "1200.00"), "refused: the application is agreed"
    )
    one_line_error(issuer_cli(flow, "quit", applyno, "--accept"), "has no quit waiting for a decision")
    one_line_error(
        issuer_cli(flow, "stop-claim", applyno, "--reason", "材料不全"),
        f"application {applyno} has no open claim",
    )
    one_line_error(issuer_cli(flow, "invoice", applyno), f"application {applyno} has no invoice requested")
    unchanged()
    # A bad amount or rate.
    one_line_error(issuer_cli(flow, "approve", applyno, "--rate", "abc"), "--rate 'abc' is not a decimal")
    one_line_error(issuer_cli(flow, "approve", applyno, "--rate", "1.5"), "rate: 1.5 must be")
    one_line_error(issuer_cli(flow, "approve", applyno, "--rate", "0.01", "--cost", "-3"), "cost")
    one_line_error(issuer_cli(flow, "approve", applyno, "--rate", "0.01", "--cost", "1.234"), "cost")
    unchanged()
    ok(flow, "approve", applyno, "--rate", "0.0150")
    one_line_error(issuer_cli(flow, "payment", applyno, "--amount", "1O0"), "--amount '1O0' is not a decimal")
    one_line_error(
        issuer_cli(flow, "payment", applyno, "--amount", "999.00"),
        "amount: 999.00 is not the premium 1200.00",
    )
    one_line_error(
        issuer_cli(flow, "payment", applyno, "--amount", "1200.00", "--payer-name", "某公司"),
        "payername and payeraccount",
    )
    assert flow.stage("issuer", applyno) == "approved"
    # Listing filters named by their option.
    one_line_error(issuer_cli(flow, "applications", "--stage", "nowhere"), "--stage must be one of")
    one_line_error(
        issuer_cli(flow, "applications", "--created-from", "yesterday"), "--created-from: 'yesterday'"
    )
    # The issuer's settings, as `serve tender` takes them.
    one_line_error(issuer_cli(flow, "show", applyno, settings=()), "needs --institution-name")
    no_url = ("--institution-name", INSTITUTION, "--credit-code", CREDIT_CODE)
    one_line_error(issuer_cli(flow, "invoice", applyno, settings=no_url), "invoice needs --public-url")
    one_line_error(
        issuer_cli(flow, "show", applyno, BAOHAN_KEY_PASSPHRASE="not the passphrase at all"),
        "wrong passphrase",
    )


def test_reject_and_give_up_through_the_cli(flow: Flow) -> None:
    section = flow.section()
    declined, dropped = flow.agreed(section), flow.agreed(section)
    rejected = ok(flow, "reject", declined, "--reason", "资信不足")
    assert rejected["stage"] == "rejected" and rejected["rate"] == "0"
    flow.reaches("platform", declined, "rejected")
    assert ok(flow, "history", declined)[-1]["detail"]["reason"] == "资信不足"
    # Giving up waits for the platform's answer: accepted, it is given up on both sides.
    assert ok(flow, "give-up", dropped)["stage"] == "agreed"
    flow.reaches("platform", dropped, "given_up")
    flow.reaches("issuer", dropped, "given_up")
    listed = ok(flow, "applications", "--stage", "given_up")
    assert [item["applyno"] for item in listed["items"]] == [dropped]
