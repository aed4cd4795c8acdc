"""The bidder page in real Chromium: the envelope opened and the agreement signed in the browser.

Playwright (Python) drives Debian's chromium (tests/tender/browser_kit.py: one browser for the module, a
fresh context for each test) against the bidder router served by uvicorn on loopback over the issuer
role's real bidder desk and store (StoreDesk, on SQLite). Every request the page makes is captured: the
private key must appear in none of them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import BrowserContext, Page, expect

from baohan.protocols.tender import sealing
from baohan.services.tender.bidder_desk import DeskState
from baohan.web.bidder import bidder_router
from baohan.web.serving import BackgroundServer, free_port
from tests.cli.test_cli_errors import baohan
from tests.tender.bidder_kit import Bidder, SealedApplication, StoreDesk, make_bidder, seal_application
from tests.tender.browser_kit import RequestLog, Sent, browser, chromium, key_secrets, playwright

__all__ = ["browser", "chromium", "playwright"]


class Served:
    """The router over one desk on a real loopback port, and every request the page sent."""

    def __init__(self, bidder: Bidder, db_path: Path, sealed: SealedApplication | None = None) -> None:
        self.bidder = bidder
        self.desk = StoreDesk(sealed or seal_application(bidder), [bidder.ca], db_path)
        app = FastAPI()
        app.include_router(bidder_router(self.desk))
        self.server = BackgroundServer(app, free_port(), lifespan="off")
        self.log: RequestLog | None = None

    @property
    def page_url(self) -> str:
        return f"{self.server.url}/bidder/{self.desk.token}"

    def open_page(self, browser: BrowserContext) -> Page:
        self.log = RequestLog(browser)
        page = browser.new_page()
        page.goto(self.page_url)
        return page

    def assert_key_never_sent(self, *bidders: Bidder) -> None:
        assert self.log is not None, "the page was not opened"
        self.log.assert_never_sent(*(secret for b in bidders for secret in key_secrets(b.key)))

    def posts(self) -> list[Sent]:
        assert self.log is not None, "the page was not opened"
        return self.log.posts()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    box = Served(make_bidder(), tmp_path / "issuer.db")
    yield box
    box.server.stop()
    box.desk.close()


def test_open_then_sign_with_the_key_never_leaving_the_browser(
    browser: BrowserContext, served: Served
) -> None:
    page = served.open_page(browser)
    page.fill("#private-key", served.bidder.key.to_hex())
    page.click("#open")
    expect(page.locator("#biddername")).to_have_text("投标人甲建设有限公司")
    expect(page.locator("#bzjamount")).to_have_text("80000.00")
    expect(page.locator("#key-status")).to_contain_text("accepted")
    expect(page.locator("#agreement")).to_contain_text(served.desk.sealed.applyno)
    assert served.desk.state is DeskState.OPENED and served.desk.opened is not None
    assert served.desk.opened.key == served.desk.sealed.key

    page.fill("#certificate", served.bidder.certificate.to_pem())
    page.click("#sign")
    expect(page.locator("#step-done")).to_be_visible()
    assert served.desk.state is DeskState.SIGNED and served.desk.signer == served.bidder.certificate
    assert [re.sub(r".*/", "", r.url) for r in served.posts()] == ["key", "signature"]
    served.assert_key_never_sent(served.bidder)


@pytest.mark.parametrize("fmt", ["pkcs8", "sec1"])
def test_a_pem_key_file_opens_it_too(
    browser: BrowserContext, served: Served, tmp_path: Path, fmt: str
) -> None:
    key_file = tmp_path / "bidder-key.pem"
    key_file.write_text(served.bidder.key.to_pem(fmt))  # type: ignore[arg-type]
    page = served.open_page(browser)
    page.set_input_files("#private-key-file", str(key_file))
    expect(page.locator("#private-key")).to_have_value(re.compile("BEGIN"))
    page.click("#open")
    expect(page.locator("#agreement")).to_contain_text("保函申请协议")
    assert served.desk.state is DeskState.OPENED
    served.assert_key_never_sent(served.bidder)


def test_a_wrong_private_key_shows_the_error_and_changes_nothing(
    browser: BrowserContext, served: Served
) -> None:
    stranger = make_bidder("投标人乙")
    page = served.open_page(browser)
    page.fill("#private-key", stranger.key.to_hex())
    page.click("#open")
    expect(page.locator("#open-error")).to_contain_text("does not open the envelope")
    expect(page.locator("#step-sign")).to_be_hidden()
    assert served.desk.state is DeskState.SEALED and served.posts() == []
    served.assert_key_never_sent(stranger, served.bidder)


def test_a_signature_the_server_refuses_is_shown_in_the_page(browser: BrowserContext, served: Served) -> None:
    page = served.open_page(browser)
    page.fill("#private-key", served.bidder.key.to_hex())
    page.click("#open")
    expect(page.locator("#agreement")).to_contain_text("保函申请协议")
    # Another bidder's certificate: the signature made with this key does not verify against it.
    page.fill("#certificate", make_bidder("投标人丙").certificate.to_pem())
    page.click("#sign")
    expect(page.locator("#sign-error")).to_contain_text("certificate: is not issued by a trusted bidder CA")
    assert served.desk.state is DeskState.OPENED
    served.assert_key_never_sent(served.bidder)


def test_garbage_in_the_key_box_is_explained(browser: BrowserContext, served: Served) -> None:
    page = served.open_page(browser)
    page.fill("#private-key", "not a key")
    page.click("#open")
    expect(page.locator("#open-error")).to_contain_text("64 hex digits or a PEM file")
    assert served.posts() == []


def test_a_bidder_on_the_command_line_pastes_k_and_the_signature(
    browser: BrowserContext, served: Served, tmp_path: Path
) -> None:
    key_file = tmp_path / "bidder-key.pem"
    key_file.write_text(served.bidder.key.to_pem())
    page = served.open_page(browser)
    page.click("#cli-key > summary")
    page.click("#cli-key details > summary")
    (tmp_path / "applydata.txt").write_text(page.locator("#applydata-text").inner_text())
    (tmp_path / "envelope.txt").write_text(page.locator("#envelope-text").inner_text())
    opened = baohan(
        "bidder", "open", "--applydata", str(tmp_path / "applydata.txt"),
        "--envelope", str(tmp_path / "envelope.txt"), "--key", str(key_file),
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    page.fill("#key-hex", opened.stdout.splitlines()[0])
    page.click("#submit-key")
    expect(page.locator("#biddername")).to_have_text("投标人甲建设有限公司")
    assert served.desk.state is DeskState.OPENED

    page.click("#cli-sign > summary")
    with page.expect_download() as download:
        page.click("#agreement-download")
    agreement = tmp_path / "agreement.txt"
    download.value.save_as(agreement)
    signed = baohan("bidder", "sign", "--agreement", str(agreement), "--key", str(key_file))
    assert signed.returncode == 0, signed.stderr
    page.fill("#certificate", served.bidder.certificate.to_pem())
    page.fill("#signature-text", signed.stdout.strip())
    page.click("#submit-signature")
    expect(page.locator("#step-done")).to_be_visible()
    assert served.desk.state is DeskState.SIGNED and served.desk.signer == served.bidder.certificate
    served.assert_key_never_sent(served.bidder)


def test_a_pasted_wrong_k_is_refused_in_the_page(browser: BrowserContext, served: Served) -> None:
    page = served.open_page(browser)
    page.click("#cli-key > summary")
    page.fill("#key-hex", bytes(b ^ 1 for b in served.desk.sealed.key).hex())
    page.click("#submit-key")
    expect(page.locator("#open-error")).to_contain_text("key: does not open applydata")
    assert served.desk.state is DeskState.SEALED


def _other_envelopes(bidder: Bidder) -> dict[str, SealedApplication]:
    """Envelopes other platforms send: layout C1C2C3, no 04 prefix, hex text, K sealed as its 32 hex."""
    made = {}
    for name, options in {
        "c1c2c3": {"layout": "c1c2c3"},
        "no-prefix": {"prefix": False},
        "hex-text": {"encoding": "hex"},
    }.items():
        sealed = seal_application(bidder)
        application = sealing.open_application(sealed.applydata, sealed.key)
        applydata, envelope = sealing.seal_application(application, bidder.certificate.public_key, **options)
        made[name] = replace(
            sealed,
            applydata=applydata,
            digitalenvelope=envelope,
            key=sealing.open_envelope(envelope, bidder.key),
        )
    sealed = seal_application(bidder)
    hex_key = bidder.certificate.public_key.encrypt(sealed.key.hex().encode("ascii"))
    made["k-as-hex"] = replace(sealed, digitalenvelope=base64.b64encode(hex_key).decode())
    return made


def test_the_page_opens_the_envelopes_other_platforms_send(browser: BrowserContext, tmp_path: Path) -> None:
    bidder = make_bidder()
    for name, sealed in _other_envelopes(bidder).items():
        box = Served(bidder, tmp_path / f"{name}.db", sealed)
        try:
            page = box.open_page(browser)
            page.fill("#private-key", bidder.key.to_hex())
            page.click("#open")
            expect(page.locator("#open-error")).to_be_hidden()
            expect(page.locator("#agreement"), name).to_contain_text("保函申请协议")
            assert box.desk.opened is not None and box.desk.opened.key == sealed.key, name
            page.close()
        finally:
            box.server.stop()
            box.desk.close()


def test_the_watch_sees_the_key_in_every_form_a_page_could_send(
    browser: BrowserContext, served: Served
) -> None:
    """The check the other tests end with is not vacuous: a page sending the key in any form is caught."""
    key = served.bidder.key
    page = served.open_page(browser)
    sends = {
        "hex in JSON": ("key", f'JSON.stringify({{key: "{key.to_hex()}"}})'),
        "HEX in the query": (f"key?k={key.to_hex().upper()}", '"{}"'),
        "Base64 of the scalar": ("key", f'"{base64.b64encode(key.to_bytes()).decode()}"'),
        "PKCS#8 PEM in JSON": ("key", f"JSON.stringify({{pem: {key.to_pem()!r}}})"),
        "SEC1 PEM form-encoded": ("key", f"new URLSearchParams({{pem: {key.to_pem('sec1')!r}}}).toString()"),
    }
    for name, (path, body) in sends.items():
        log = RequestLog(browser)
        page.evaluate(
            f"fetch('{served.page_url}/{path}', {{method: 'POST', body: {body}}}).then(r => r.text())"
        )
        assert log.posts(), name
        with pytest.raises(AssertionError, match="the private key left the page"):
            log.assert_never_sent(*key_secrets(key))
