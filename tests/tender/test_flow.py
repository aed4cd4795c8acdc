"""A bid guarantee from application to the plain guarantee after bid opening, both roles for real over
HTTP (SQLite and PostgreSQL): apply → the bidder opens and signs → notice → payment → the sealed OFD
in slices → completion → bid opening → restore → the plain OFD in slices; the project fields stay
ciphertext on the issuer's side until the project key arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tender.flow_kit import SECTION, SLICE, Flow, serving


@pytest.fixture
def flow(db_url: str, tmp_path: Path) -> Iterator[Flow]:
    with serving(db_url, tmp_path) as served:
        yield served


def test_apply_open_issue_open_the_bids_restore(flow: Flow) -> None:
    section = flow.section()
    applyno = flow.apply(section)
    assert flow.redirect(applyno).startswith(f"{flow.base}/bidder/")
    flow.reaches("issuer", applyno, "applied")
    flow.bidder_opens_and_signs(applyno)
    agreed = flow.reaches("issuer", applyno, "agreed")
    assert agreed["bidder_name"] == "投标人甲建设有限公司" and agreed["bzj_amount"] == "80000.00"

    slices, completions = flow.answered("uploadbaohanfile"), flow.answered("baohanfilecompletenotice")
    platform_copy = flow.issued(applyno)
    issuer_copy = flow.reaches("issuer", applyno, "sealed_completed")
    assert platform_copy["baohanno"] == issuer_copy["baohanno"] and issuer_copy["cost"] == "1200.00"
    # Before the bids open the issuer holds the project fields only as ciphertext, and never shows them.
    assert issuer_copy["project_fields"] is None
    assert not set(SECTION.values()) & set(issuer_copy["sealed_fields"].values())
    assert flow.answered("uploadbaohanfile") - slices >= 2, f"the sealed OFD in slices of {SLICE} bytes"
    assert flow.answered("baohanfilecompletenotice") - completions == 1
    refused = flow.issuer.post(f"/applications/{applyno}/issue")
    assert refused.status_code == 409, refused.text  # issued once

    opened = flow.platform.post(f"/sections/{section}/open")
    assert opened.status_code == 200 and opened.json() == {"restoring": 1}, opened.text
    restored = flow.reaches("platform", applyno, "restored")
    issuer_restored = flow.reaches("issuer", applyno, "restored")
    assert issuer_restored["project_fields"] == SECTION
    assert restored["project_fields"] == SECTION
    assert flow.answered("baohanfilecompletenotice") - completions == 2
    history = flow.issuer.get(f"/applications/{applyno}/history").json()
    events = [entry["event"] for entry in history["items"]]
    assert events[0] == "apply" and "restore" in events
