"""After issue, both roles for real over HTTP (SQLite and PostgreSQL): the invoice, a claim paid on first
demand, quits before and after the bid opening, give-ups from either side, a cancellation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.tender.flow_kit import Flow, serving


@pytest.fixture
def flow(db_url: str, tmp_path: Path) -> Iterator[Flow]:
    with serving(db_url, tmp_path) as served:
        yield served


def test_an_invoice_then_a_claim_paid_on_first_demand(flow: Flow) -> None:
    applyno = flow.restored(flow.section())
    flow.invoiced_then_claim_paid(applyno)
    assert httpx.get(f"{flow.base}/invoices/{'x' * 43}", timeout=10).status_code == 404
    assert flow.issuer.get("/claim-documents/nope").status_code == 404


def test_a_claim_stopped_with_a_reason_is_not_paid(flow: Flow) -> None:
    section = flow.section()
    applyno = flow.agreed(section)
    flow.issued(applyno)
    claimed = flow.platform.post(
        f"/applications/{applyno}/claims", json={"applyusername": "张三", "applyuserphone": "13800000000"}
    )
    assert claimed.status_code == 202, claimed.text
    flow.reaches("issuer", applyno, "claimed")
    stopped = flow.issuer.post(f"/applications/{applyno}/claim/stop", json={"reason": "索赔材料不全"})
    assert stopped.status_code == 200 and stopped.json()["stage"] == "sealed_completed", stopped.text


def test_quits_before_the_bid_opening_accepted_or_refused_and_after_it_refused(flow: Flow) -> None:
    section = flow.section()
    first, second = flow.agreed(section), flow.agreed(section)
    for applyno in (first, second):
        flow.issued(applyno)
        asked = flow.platform.post(f"/applications/{applyno}/quit", json={"reason": "项目暂停"})
        assert asked.status_code == 202, asked.text
        flow.reaches("issuer", applyno, "quit_requested")
    accepted = flow.issuer.post(f"/applications/{first}/quit/decision", json={"accept": True})
    assert accepted.status_code == 200 and accepted.json()["quit_at"], accepted.text
    flow.reaches("platform", first, "quit")
    refused = flow.issuer.post(
        f"/applications/{second}/quit/decision", json={"accept": False, "reason": "已进入评标准备"}
    )
    assert refused.status_code == 200 and refused.json()["stage"] == "sealed_completed", refused.text
    flow.reaches("platform", second, "sealed_completed")

    assert flow.platform.post(f"/sections/{section}/open").json() == {"restoring": 1}  # the quit one is over
    flow.reaches("platform", second, "restored")
    late = flow.platform.post(f"/applications/{second}/quit", json={"reason": "开标后退保"})
    assert late.status_code == 409 and "only possible before" in late.json()["message"], late.text


def test_give_ups_from_either_side_and_a_cancellation(flow: Flow) -> None:
    section = flow.section()
    # The bidder gives up an application nothing was issued for: the institution accepts.
    early = flow.apply(section)
    flow.reaches("issuer", early, "applied")
    assert flow.platform.post(f"/applications/{early}/giveup").status_code == 202
    flow.reaches("issuer", early, "given_up")
    flow.reaches("platform", early, "given_up")
    # The institution gives up one the bidder agreed to, not yet approved: the platform accepts.
    ours = flow.agreed(section)
    given = flow.issuer.post(f"/applications/{ours}/giveup")
    assert given.status_code == 202, given.text
    flow.reaches("platform", ours, "given_up")
    flow.reaches("issuer", ours, "given_up")
    # Once issued, neither side may give it up (nothing is sent, nothing changes); a cancellation ends it.
    issued = flow.agreed(section)
    flow.issued(issued)
    theirs = flow.platform.post(f"/applications/{issued}/giveup")
    assert theirs.status_code == 409 and "give" in theirs.json()["message"], theirs.text
    refused = flow.issuer.post(f"/applications/{issued}/giveup")
    assert refused.status_code == 409, refused.text  # nor may the institution give it up now
    assert flow.stage("platform", issued) == flow.stage("issuer", issued) == "sealed_completed"
    cancelled = flow.platform.post(f"/applications/{issued}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["stage"] == "cancelled", cancelled.text
    flow.reaches("issuer", issued, "cancelled")
