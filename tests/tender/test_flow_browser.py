"""The whole sealed flow with the bidder in real Chromium, both roles for real over HTTP (SQLite and
PostgreSQL): apply → the bidder opens the issuer's ``redirecturl`` in chromium, loads their private key into
the page from their PEM file, opens the envelope and signs the agreement there → notice → payment → the
sealed OFD in slices → completion → bid opening → restore → the plain OFD, embedding the sealed one, in
slices → invoice → a claim paid on first demand.

The bidder is :class:`ChromiumBidder` in flow_kit's place for ``baohan bidder``; test_flow.py's test runs
here unchanged with it (every step and assertion of the CLI bidder's flow), then the invoice and the claim.
Every request the page made is watched: the private key is in none of them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from baohan.adapters.documents.ofd import read_attachments, verify_ofd
from baohan.adapters.documents.tender_guarantee import CERTIFICATE_FILE, SEALED_FILE, SIGNATURE_FILE
from baohan.cli.tender_tour import BIDDER_NAME
from baohan.gm import SM2Certificate
from baohan.protocols.tender.agreement import verify_agreement_signature
from baohan.services.tender.issuing import AGREEMENT_FILE
from tests.tender import test_flow
from tests.tender.browser_kit import RequestLog, browser, chromium, key_secrets, playwright
from tests.tender.flow_kit import Flow, serving

__all__ = ["browser", "chromium", "playwright"]


class ChromiumBidder:
    """flow_kit's BidderSteps in a browser context: the bidder works the page as a person would, with their
    key and certificate in files on their machine; what each page showed and every request are kept."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.log = RequestLog(context)
        self.agreements: dict[str, str] = {}  # applyno → the agreement the page showed, then signed

    def __call__(self, flow: Flow, applyno: str, url: str) -> None:
        files = flow.workdir / applyno
        files.mkdir()
        key_file, certificate_file = files / "bidder-key.pem", files / "bidder-certificate.pem"
        key_file.write_text(flow.bidder.key.to_pem())
        certificate_file.write_text(flow.bidder.certificate.to_pem())
        page = self.context.new_page()
        try:
            page.goto(url)
            expect(page.locator("#applyno")).to_have_text(applyno)
            page.set_input_files("#private-key-file", str(key_file))
            expect(page.locator("#private-key")).to_have_value(re.compile("BEGIN PRIVATE KEY"))
            page.click("#open")
            expect(page.locator("#key-status")).to_contain_text("accepted")
            expect(page.locator("#biddername")).to_have_text(BIDDER_NAME)
            expect(page.locator("#bzjamount")).to_have_text("80000.00")
            expect(page.locator("#agreement")).to_contain_text(applyno)
            self.agreements[applyno] = page.locator("#agreement").text_content() or ""
            page.set_input_files("#certificate-file", str(certificate_file))
            expect(page.locator("#certificate")).to_have_value(re.compile("BEGIN CERTIFICATE"))
            page.click("#sign")
            expect(page.locator("#step-done")).to_be_visible()
            expect(page.locator("#sign-error")).to_be_hidden()
        finally:
            self.log.sent()  # its requests copied while the page is there to ask
            page.close()


@pytest.fixture
def bidder(browser: BrowserContext) -> ChromiumBidder:
    return ChromiumBidder(browser)


@pytest.fixture
def flow(db_url: str, tmp_path: Path, bidder: ChromiumBidder) -> Iterator[Flow]:
    with serving(db_url, tmp_path, bidder_steps=bidder) as served:
        yield served


def test_the_whole_sealed_flow_with_the_bidder_in_chromium(flow: Flow, bidder: ChromiumBidder) -> None:
    test_flow.test_apply_open_issue_open_the_bids_restore(flow)
    [applyno] = bidder.agreements

    # The agreement the page showed, signed in the page, is attached to the sealed guarantee with the
    # bidder's signature and certificate, and the signature verifies against that certificate.
    sealed = flow.guarantee(applyno, "sealed")
    assert verify_ofd(sealed).valid
    attached = {a.file_name: a.data for a in read_attachments(sealed)}
    agreement = attached[AGREEMENT_FILE]
    assert agreement.decode("utf-8") == bidder.agreements[applyno]
    certificate = SM2Certificate.load(attached[CERTIFICATE_FILE])
    assert certificate == flow.bidder.certificate
    signature = base64.b64encode(attached[SIGNATURE_FILE]).decode()
    signer = verify_agreement_signature(agreement, certificate.to_pem(), signature, trusted=[flow.bidder.ca])
    assert signer == flow.bidder.certificate
    assert flow.bidder.certificate.public_key.verify(agreement, attached[SIGNATURE_FILE])
    # The plain guarantee carries the sealed one unchanged, as both roles hold it.
    plain = flow.guarantee(applyno, "plain")
    assert verify_ofd(plain).valid
    [inner] = [a.data for a in read_attachments(plain) if a.file_name == SEALED_FILE]
    assert inner == sealed == flow.guarantee(applyno, "sealed", side="issuer")
    assert plain == flow.guarantee(applyno, "plain", side="issuer")

    flow.invoiced_then_claim_paid(applyno)

    # The page called the issuer twice, K then the signature, and the private key was in no request.
    assert [re.sub(r".*/", "", r.url) for r in bidder.log.posts()] == ["key", "signature"]
    bidder.log.assert_never_sent(*key_secrets(flow.bidder.key))
