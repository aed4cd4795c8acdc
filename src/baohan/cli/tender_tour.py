"""The two tender roles driven as their operators and a bidder drive them: each role's admin API, and the
bidder page the institution answers with, where the bidder opens the sealed application and signs the
agreement with the ``baohan bidder`` code on their own key (no browser). ``baohan demo tender`` tours the
protocol with it; the flow tests drive their roles with it too."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from baohan.cli.demo_kit import wait
from baohan.cli.inputs import CLIError
from baohan.gm import SM2Certificate, SM2PrivateKey
from baohan.protocols.tender.bidder import BidderError, accept_opened_key
from baohan.protocols.tender.sealing import SealingError, open_envelope

BIDDER_NAME, BIDDER_CODE = "投标人甲建设有限公司", "91330106MA27XXXX0K"
_SEALED = re.compile(r'<script id="sealed" type="application/json">(.*?)</script>', re.S)


@dataclass(kw_only=True)
class TenderDriver:
    """The issuer's and the platform's admin APIs, the bidder's key and certificate, and the institution
    as the platform registered it. Each call that does not answer as expected is a CLIError saying so."""

    issuer: httpx.Client
    platform: httpx.Client
    bidder_key: SM2PrivateKey
    bidder_certificate: SM2Certificate
    institution_id: str = ""
    rate: str = "0.0150"
    _bidders: int = 0

    def call(self, api: httpx.Client, method: str, path: str, status: int, **kwargs: Any) -> Any:
        """One admin call expected to answer ``status``; its JSON."""
        try:
            reply = api.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CLIError(f"{method} {path}: {exc}") from None
        if reply.status_code != status:
            raise CLIError(f"{method} {path} answered {reply.status_code}: {reply.text[:300]}")
        return reply.json()

    def section(self, fields: dict[str, str], opens_in: timedelta = timedelta(days=1)) -> str:
        """A bid section the platform opens ``opens_in`` from now; its id."""
        opening = (datetime.now(UTC) + opens_in).isoformat()
        made = self.call(self.platform, "POST", "/sections", 201, json={**fields, "kaibiaotime": opening})
        return str(made["id"])

    def reaches(self, side: str, applyno: str, stage: str) -> dict[str, Any]:
        """``side``'s copy of ``applyno`` once it is at ``stage``."""
        api = self.issuer if side == "issuer" else self.platform
        return dict(
            wait(
                lambda: (app := api.get(f"/applications/{applyno}").json()).get("stage") == stage and app,
                f"the {side}'s {applyno} to be {stage}",
            )
        )

    def apply(self, section: str, bzj: str = "80000.00") -> str:
        """Another bidder applies on ``section`` with the institution's offer, once the institution has it;
        the applyno. (One offer per bidder and product: every bidder here holds the same certificate.)"""
        self._bidders += 1
        code = f"{BIDDER_CODE[:-4]}{self._bidders:04d}"
        offer = self.call(
            self.platform,
            "POST",
            f"/sections/{section}/quotes",
            201,
            json={
                "bidder_code": code,
                "institution_id": self.institution_id,
                "product": "投标保函",
                "rate": self.rate,
                "bzj_amount": bzj,
            },
        )
        submitted = self.call(
            self.platform,
            "POST",
            "/applications",
            202,
            json={
                "section_id": section,
                "quote_id": offer["id"],
                "bidder_name": BIDDER_NAME,
                "bidder_code": code,
                "bzj_amount": bzj,
                "certificate": self.bidder_certificate.to_pem(),
            },
        )
        applyno = str(submitted["applyno"])
        self.reaches("issuer", applyno, "applied")
        return applyno

    def redirect(self, applyno: str) -> str:
        """The bidder's page of ``applyno``: the institution's redirecturl, once it answered."""
        return str(
            wait(
                lambda: self.platform.get(f"/applications/{applyno}/redirect").json().get("redirecturl"),
                f"the redirecturl of {applyno}",
            )
        )

    def bidder_signs(self, applyno: str) -> str:
        """The bidder on their page: opens the sealed application with their key (what ``baohan bidder
        open`` does), hands K in, signs the agreement (``baohan bidder sign``) and hands the signature in,
        until the institution has it agreed; the page's URL."""
        url = self.redirect(applyno)
        page = httpx.get(url, timeout=30)
        found = _SEALED.search(page.text)
        if page.status_code != 200 or found is None:
            raise CLIError(
                f"the bidder page of {applyno} answered {page.status_code} without its application"
            )
        sealed = json.loads(found.group(1))
        try:
            k = open_envelope(sealed["digitalenvelope"], self.bidder_key)
            opened = accept_opened_key(sealed["applydata"], k.hex())
        except (SealingError, BidderError) as exc:
            raise CLIError(f"the bidder could not open {applyno}: {exc}") from None
        self._page(url, "key", {"key": opened.key.hex()}, "opened")
        agreement = httpx.get(f"{url}/agreement", timeout=30)
        if agreement.status_code != 200:
            raise CLIError(f"the agreement of {applyno} answered {agreement.status_code}")
        signature = base64.b64encode(self.bidder_key.sign(agreement.content)).decode("ascii")
        certificate = self.bidder_certificate.to_pem()
        self._page(url, "signature", {"certificate": certificate, "signature": signature}, "signed")
        self.reaches("issuer", applyno, "agreed")
        return url

    def _page(self, url: str, call: str, body: dict[str, str], state: str) -> None:
        reply = httpx.post(f"{url}/{call}", json=body, timeout=30)
        if reply.status_code != 200 or reply.json().get("state") != state:
            raise CLIError(f"the bidder page's {call} answered {reply.status_code}: {reply.text[:300]}")

    def issue(self, applyno: str) -> dict[str, Any]:
        """The institution approves ``applyno``, records the premium paid and issues it; the platform's copy
        once the sealed guarantee is complete there."""
        approved = self.call(
            self.issuer, "POST", f"/applications/{applyno}/approve", 200, json={"rate": self.rate}
        )
        self.reaches("platform", applyno, "approved")
        paid = {"amount": approved["cost"]}
        self.call(self.issuer, "POST", f"/applications/{applyno}/payments", 200, json=paid)
        self.call(self.issuer, "POST", f"/applications/{applyno}/issue", 202)
        return self.reaches("platform", applyno, "sealed_completed")
