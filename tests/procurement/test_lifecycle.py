"""Whole lifecycles between our platform and our issuer over real HTTP on loopback, on both databases."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from baohan.adapters.documents.pdf_signature import verify_pdf
from baohan.services.procurement.runtime import DEFAULT_RULES
from tests.procurement.harness import Pair, application_fields, running_pair, wait_for


@pytest.fixture
def pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    with running_pair(*db_pair) as running:
        yield running


def submit(pair: Pair, application_id: str, **overrides: str) -> dict[str, Any]:
    reply = pair.platform_admin.post(
        "/admin/applications",
        json={
            "institution_id": pair.institution_id,
            "fields": application_fields(application_id, **overrides),
        },
    )
    assert reply.status_code == 202, reply.text
    return reply.json()  # type: ignore[no-any-return]


def stage_on_both(pair: Pair, key: str, stage: str) -> bool:
    return pair.issuer_app(key).get("stage") == stage and pair.platform_app(key).get("stage") == stage


def claim_fields(amount: str) -> dict[str, str]:
    """An ELY105 claim of ``amount`` as the platform's admin API takes it."""
    return {
        "claim_amount": amount,
        "claim_reason": "供应商未按合同履约",
        "open_bank": "中国工商银行北京分行",
        "bank_account": "0200001234567890123",
        "contract": "王五",
        "contract_way": "13900139000",
        "contract_cert_code": "110101198501011234",
    }


def approve_and_issue(pair: Pair, application_id: str, **overrides: str) -> dict[str, Any]:
    submit(pair, application_id, **overrides)
    wait_for(
        lambda: stage_on_both(pair, application_id, "approved"), f"{application_id} approved on both sides"
    )
    premium = pair.issuer_app(application_id)["premium"]
    reply = pair.issuer_admin.post(
        f"/admin/applications/{application_id}/payments",
        json={"amount": premium, "paid_at": "2026-11-23T10:00:00+08:00", "pay_type": "01"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["stage"] == "issued"
    return wait_for(
        lambda: (a := pair.platform_app(application_id)).get("verification") and a, "file verified"
    )


def test_apply_approve_pay_issue_fetch_verify_claim_pay(pair: Pair) -> None:
    issued = approve_and_issue(pair, "APP-0001")
    issuer_view = pair.issuer_app("APP-0001")
    assert issuer_view["premium"] == "625.00" and issuer_view["paid_amount"] == "625.00"
    assert issued["stage"] == "issued" and issued["guarantee_id"] == issuer_view["guarantee_id"]
    assert issued["paid_amount"] == "625.00" and issued["pay_type"] == "01"
    assert issued["verification"]["status"] == "01"
    assert issued["verification"]["certNum"] == pair.issuer_cert.info().serial
    assert issued["verification"]["certOwner"] == "示范担保有限公司"
    assert issued["file_name"].endswith(".pdf")

    pdf = pair.platform_admin.get("/admin/applications/APP-0001/file")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.content == pair.issuer_admin.get("/admin/applications/APP-0001/file").content
    assert verify_pdf(pdf.content, [pair.ca]).valid

    claim = pair.platform_admin.post(
        "/admin/applications/APP-0001/claims",
        json=claim_fields("50000.00"),
    )
    assert claim.status_code == 202, claim.text
    open_claims = wait_for(
        lambda: pair.issuer_admin.get("/admin/claims", params={"status": "open"}).json()["items"],
        "claim on the issuer",
    )
    wait_for(lambda: stage_on_both(pair, "APP-0001", "claimed"), "claimed on both sides")
    wait_for(
        lambda: (
            pair.platform_admin.get("/admin/applications/APP-0001/claims").json()["items"][0]["status"]
            == "processing"
        ),
        "ELY106 00 on the platform",
    )
    decided = pair.issuer_admin.post(
        f"/admin/claims/{open_claims[0]['id']}/decision", json={"pay": True, "reason": "见索即付"}
    )
    assert decided.status_code == 200 and decided.json()["status"] == "paid", decided.text
    wait_for(lambda: stage_on_both(pair, "APP-0001", "paid_out"), "paid out on both sides")
    platform_claim = pair.platform_admin.get("/admin/applications/APP-0001/claims").json()["items"][0]
    assert platform_claim["status"] == "paid" and platform_claim["paid_amount"] == "50000.00"
    history = [
        e["event"] for e in pair.platform_admin.get("/admin/applications/APP-0001/history").json()["items"]
    ]
    assert history[:4] == ["submit", "approve", "pay", "issue"] and "pay_claim" in history


def test_invalidation_then_cancellation_notice(pair: Pair) -> None:
    approve_and_issue(pair, "APP-0002")
    reply = pair.platform_admin.post("/admin/applications/APP-0002/invalidate", json={"invalid_type": "0"})
    assert reply.status_code == 202, reply.text
    wait_for(
        lambda: stage_on_both(pair, "APP-0002", "discharged"), "discharged on both sides (ELY107 → ELY108)"
    )
    events = pair.platform_admin.get("/admin/applications/APP-0002/history").json()["items"]
    assert events[-1]["event"] == "invalidate" and "注销" in events[-1]["detail"]["cancelNotice"]


def test_surrender_after_issue(pair: Pair) -> None:
    approve_and_issue(pair, "APP-0003")
    assert (
        pair.platform_admin.post(
            "/admin/applications/APP-0003/surrender", json={"reason": "项目终止"}
        ).status_code
        == 202
    )
    wait_for(lambda: stage_on_both(pair, "APP-0003", "surrendered"), "surrendered on both sides")
    # A surrendered guarantee cannot be claimed on: the platform refuses before sending.
    refused = pair.platform_admin.post(
        "/admin/applications/APP-0003/claims",
        json={
            "claim_amount": "1.00",
            "claim_reason": "x",
            "open_bank": "x",
            "bank_account": "x",
            "contract": "x",
            "contract_way": "x",
            "contract_cert_code": "x",
        },
    )
    assert refused.status_code == 409 and "not live" in refused.json()["message"]


def test_cancel_before_issue_and_a_refused_surrender(pair: Pair) -> None:
    submit(pair, "APP-0004")
    wait_for(lambda: stage_on_both(pair, "APP-0004", "approved"), "approved")
    assert pair.platform_admin.post("/admin/applications/APP-0004/surrender", json={}).status_code == 202
    wait_for(
        lambda: any(
            e["event"] == "status_09"
            for e in pair.platform_admin.get("/admin/applications/APP-0004/history").json()["items"]
        ),
        "ELY102 09",
    )
    assert pair.platform_app("APP-0004")["stage"] == "approved"
    assert (
        pair.platform_admin.post(
            "/admin/applications/APP-0004/cancel", json={"reason": "不再需要"}
        ).status_code
        == 202
    )
    wait_for(lambda: stage_on_both(pair, "APP-0004", "cancelled"), "cancelled on both sides")


def test_a_refused_application(pair: Pair) -> None:
    submit(pair, "APP-0005", guaranteeDate="120")
    wait_for(lambda: stage_on_both(pair, "APP-0005", "rejected"), "rejected on both sides")
    assert "outside 1–60" in pair.platform_app("APP-0005")["fail_reason"]


def test_manual_review_then_operator_approval(pair: Pair) -> None:
    submit(pair, "APP-0006", performanceBond="6000000.00")
    wait_for(lambda: pair.issuer_app("APP-0006").get("stage") == "review", "in manual review")
    assert pair.platform_app("APP-0006")["stage"] == "review"
    reply = pair.issuer_admin.post("/admin/applications/APP-0006/approve")
    assert reply.status_code == 200 and reply.json()["stage"] == "approved"
    wait_for(lambda: stage_on_both(pair, "APP-0006", "approved"), "approved on both sides")
    again = pair.issuer_admin.post("/admin/applications/APP-0006/approve")
    assert again.status_code == 409 and "approved" in again.json()["message"]


def test_an_extension_links_to_the_live_guarantee(pair: Pair) -> None:
    first = approve_and_issue(pair, "APP-0007")
    submit(pair, "APP-0007-EXT", guaranteeDate="6")
    extension = wait_for(
        lambda: (a := pair.issuer_app("APP-0007-EXT")).get("stage") == "approved" and a, "extension approved"
    )
    assert extension["extends_id"] == pair.issuer_app("APP-0007")["id"]
    assert first["guarantee_id"]


def test_resubmission_is_idempotent_and_different_content_is_refused(pair: Pair) -> None:
    first = submit(pair, "APP-0008")
    assert submit(pair, "APP-0008")["id"] == first["id"]
    reply = pair.platform_admin.post(
        "/admin/applications",
        json={
            "institution_id": pair.institution_id,
            "fields": application_fields("APP-0008", performanceBond="1.00"),
        },
    )
    assert reply.status_code == 409 and "other content" in reply.json()["message"]


@pytest.fixture
def reviewed_pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    """As ``pair``, with an issuer whose operator decides ELY109 cancellations and surrenders."""
    rules = dataclasses.replace(DEFAULT_RULES, refunds_by_operator=True)
    with running_pair(*db_pair, rules=rules) as running:
        yield running


def history_events(admin: httpx.Client, key: str) -> list[str]:
    return [e["event"] for e in admin.get(f"/admin/applications/{key}/history").json()["items"]]


def test_surrender_and_cancel_wait_for_the_operator(reviewed_pair: Pair) -> None:
    pair = reviewed_pair
    approve_and_issue(pair, "APP-0101")
    submit(pair, "APP-0102")
    wait_for(lambda: stage_on_both(pair, "APP-0102", "approved"), "APP-0102 approved")
    surrender = pair.platform_admin.post(
        "/admin/applications/APP-0101/surrender", json={"reason": "项目终止"}
    )
    cancel = pair.platform_admin.post("/admin/applications/APP-0102/cancel", json={"reason": "不再需要"})
    assert surrender.status_code == 202 and cancel.status_code == 202
    wait_for(
        lambda: (
            len(pair.issuer_admin.get("/admin/refunds", params={"status": "pending"}).json()["items"]) == 2
        ),
        "both requests waiting for the operator",
    )
    waiting = {
        r["kind"]: r
        for r in pair.issuer_admin.get("/admin/refunds", params={"status": "pending"}).json()["items"]
    }
    assert waiting["surrender"]["reason"] == "项目终止" and waiting["cancel"]["reason"] == "不再需要"
    # Nothing is decided, and nothing sent, until the operator says so.
    assert (
        pair.issuer_app("APP-0101")["stage"] == "issued"
        and pair.issuer_app("APP-0102")["stage"] == "approved"
    )
    assert "surrender_requested" in history_events(pair.issuer_admin, "APP-0101")

    # The same request again while the first waits is taken (000) and joins it: one decision, one notice.
    assert pair.platform_admin.post("/admin/applications/APP-0101/surrender", json={}).status_code == 202
    wait_for(lambda: "surrender_repeated" in history_events(pair.issuer_admin, "APP-0101"), "repeat logged")
    assert len(pair.issuer_admin.get("/admin/refunds").json()["items"]) == 2

    accepted = pair.issuer_admin.post(
        f"/admin/refunds/{waiting['surrender']['id']}/decision", json={"accept": True}
    )
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert accepted.json()["decided_by"] == "admin"  # the operator whose token was used
    wait_for(lambda: stage_on_both(pair, "APP-0101", "surrendered"), "surrendered on both sides")
    assert history_events(pair.platform_admin, "APP-0101").count("surrender") == 1

    unexplained = pair.issuer_admin.post(
        f"/admin/refunds/{waiting['cancel']['id']}/decision", json={"accept": False}
    )
    assert unexplained.status_code == 409 and "needs a reason" in unexplained.json()["message"]
    refused = pair.issuer_admin.post(
        f"/admin/refunds/{waiting['cancel']['id']}/decision", json={"accept": False, "reason": "保费已开票"}
    )
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    wait_for(
        lambda: "status_06" in history_events(pair.platform_admin, "APP-0102"), "ELY102 06 at the platform"
    )
    assert pair.platform_app("APP-0102")["stage"] == "approved"
    assert pair.issuer_app("APP-0102")["stage"] == "approved"

    twice = pair.issuer_admin.post(
        f"/admin/refunds/{waiting['cancel']['id']}/decision", json={"accept": True}
    )
    assert twice.status_code == 409 and "already decided (refused)" in twice.json()["message"]
    unknown = pair.issuer_admin.post("/admin/refunds/nope/decision", json={"accept": True})
    assert (
        unknown.status_code == 404
        and "no cancellation or surrender request nope" in unknown.json()["message"]
    )


def test_what_the_lifecycle_forbids_is_refused_without_the_operator(reviewed_pair: Pair) -> None:
    pair = reviewed_pair
    submit(pair, "APP-0103")
    wait_for(lambda: stage_on_both(pair, "APP-0103", "approved"), "approved")
    assert pair.platform_admin.post("/admin/applications/APP-0103/surrender", json={}).status_code == 202
    wait_for(lambda: "status_09" in history_events(pair.platform_admin, "APP-0103"), "ELY102 09")
    assert pair.issuer_admin.get("/admin/refunds").json()["items"] == []


def test_an_accepted_request_still_obeys_the_lifecycle_at_decision_time(reviewed_pair: Pair) -> None:
    pair = reviewed_pair
    approve_and_issue(pair, "APP-0104")
    assert pair.platform_admin.post("/admin/applications/APP-0104/surrender", json={}).status_code == 202
    wait_for(lambda: pair.issuer_admin.get("/admin/refunds").json()["items"], "surrender waiting")
    request_id = pair.issuer_admin.get("/admin/refunds").json()["items"][0]["id"]
    claim = pair.platform_admin.post(
        "/admin/applications/APP-0104/claims",
        json=claim_fields("100.00"),
    )
    assert claim.status_code == 202, claim.text
    wait_for(lambda: pair.issuer_app("APP-0104").get("stage") == "claimed", "claim open at the issuer")
    blocked = pair.issuer_admin.post(f"/admin/refunds/{request_id}/decision", json={"accept": True})
    assert blocked.status_code == 409 and "claim is being decided" in blocked.json()["message"]
    assert pair.issuer_admin.get("/admin/refunds").json()["items"][0]["status"] == "pending"
