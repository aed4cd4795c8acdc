"""Real Chromium for the bidder page's tests: Debian's /usr/bin/chromium driven by Playwright (never a
downloaded browser), one browser per test module and a fresh context (its own profile) per test, and a
watch on every request a context sends, to show the bidder's private key is in none of them.

Chromium missing fails the test (tests/peers.missing), never skips it: `make test` installs it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, Request, sync_playwright

from baohan.gm import SM2PrivateKey
from baohan.gm.sm2 import PrivateFormat
from tests.peers import missing

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        missing(
            f"chromium is not installed at {CHROMIUM}; `make test` installs it (scripts/install-peers.sh)"
        )
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """One headless chromium for the module (launching one takes about a second)."""
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
    yield launched
    launched.close()


@pytest.fixture
def browser(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh context of the module's chromium for each test: no cookies, storage or cache shared."""
    context = chromium.new_context(accept_downloads=True)
    yield context
    context.close()


def key_secrets(key: SM2PrivateKey) -> list[str]:
    """Every text form of ``key`` a page could send: the scalar's hex and Base64 (standard and URL-safe),
    and the part of each PEM body (PKCS#8, SEC1) that encodes the scalar (the rest is a constant header
    and the public key, which the certificate carries too)."""
    raw = key.to_bytes()
    forms = [raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")]
    formats: tuple[PrivateFormat, ...] = ("pkcs8", "sec1")
    for fmt in formats:
        der = key.to_der(fmt)
        body = "".join(key.to_pem(fmt).splitlines()[1:-1])
        assert base64.b64decode(body) == der
        start = der.index(raw)
        # Whole Base64 groups (3 bytes → 4 characters) inside the scalar: the same whatever surrounds it.
        first, last = -(-start // 3), (start + len(raw)) // 3
        forms.append(body[first * 4 : last * 4])
    return forms


@dataclass(frozen=True)
class Sent:
    """One request as the browser sent it: method, URL, every header (cookies too) and the body."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def texts(self) -> set[str]:
        """The request as text: as sent, URL-decoded, and each without line breaks (raw or JSON-escaped)."""
        blob = " ".join([self.url, self.body.decode("latin-1"), *self.headers.values()])
        forms = {blob, unquote_plus(blob)}
        return forms | {
            f.replace("\\r", "").replace("\\n", "").replace("\r", "").replace("\n", "") for f in forms
        }


class RequestLog:
    """Every request a browser context sends, from the moment it is watched. A request's headers are asked
    of the browser when the log is first read: read it (:meth:`sent`) before closing the page it watched."""

    def __init__(self, context: BrowserContext) -> None:
        self._new: list[Request] = []
        self._sent: list[Sent] = []
        context.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        # Only kept here: an event handler that waits on the browser would run after the caller moved on.
        self._new.append(request)

    def sent(self) -> list[Sent]:
        """Every request seen so far, copied with all its headers (cookies too)."""
        while self._new:
            request = self._new.pop(0)
            body = request.post_data_buffer or b""
            self._sent.append(Sent(request.method, request.url, request.all_headers(), body))
        return list(self._sent)

    def posts(self) -> list[Sent]:
        return [r for r in self.sent() if r.method == "POST"]

    def assert_never_sent(self, *secrets: str) -> None:
        """No request's URL, headers or body holds any of ``secrets`` (case-insensitively), as sent or
        URL-decoded, with or without the line breaks of a pasted PEM."""
        sent = self.sent()
        assert sent, "no request captured"
        for request in sent:
            texts = [text.lower() for text in request.texts()]
            for secret in secrets:
                assert not any(secret.lower() in text for text in texts), (
                    f"the private key left the page in {request.method} {request.url}"
                )
