"""Both tender roles for real, in one process on one database with one dispatcher, behind one server:
the issuer at ``/tender`` (its bidder page at ``/bidder``), the platform at ``/platform/tender``, each with
its admin API; they talk to each other over real HTTP through the outbox. The bidder opens and signs at the
issuer's ``redirecturl`` on their own key: by default with the ``baohan bidder`` commands and the page's
JSON calls (:func:`cli_bidder`); ``serving(bidder_steps=…)`` puts another bidder in their place (the one in
Chromium of tests/tender/test_flow_browser.py)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from baohan.adapters.db.tables import TenderApplication, TenderGuaranteeFile, TenderInvoice
from baohan.adapters.keystore import SecretBox
from baohan.cli.tender_tour import TenderDriver
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.profile import TenderProfile
from baohan.services import runtime as shared
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.files import FileType
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.platform_runtime import build_platform
from baohan.services.tender.registry import Registry
from baohan.services.tender.runtime import build_issuer
from baohan.web import tender as web
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from tests.cli.test_cli_errors import baohan
from tests.procurement.harness import ADMIN, FAST, PASSPHRASE, wait_for
from tests.tender.bidder_kit import Bidder, make_bidder

INSTITUTION = "某某担保有限公司"
APPKEY, APPSECRET = "FLOW-INST-1", "flow-appsecret-0001"
SECTION = {
    "biaoduanno": "BD-FLOW-0042",
    "biaoduanname": "城东污水处理厂二期土建施工标段",
    "zbr": "某市水务投资集团有限公司",
    "zbrorgnum": "91330100MA2FLOW001",
}
CLAIM_WAIT = timedelta(seconds=2)  # a claim is paid on first demand this long after it arrived
SLICE = 8192  # small slices: a guarantee of some tens of KB goes up in several


BidderSteps = Callable[["Flow", str, str], None]
"""The bidder at an application's page: ``(flow, applyno, redirecturl)`` opens the envelope, hands K in and
signs the agreement with ``flow.bidder``'s key, which stays with the bidder; returns once the page says
signed."""


def cli_bidder(flow: Flow, applyno: str, url: str) -> None:
    """The bidder on the command line: read the sealed application off the page, open it with ``baohan bidder
    open``, hand K in, sign the agreement with ``baohan bidder sign``, hand the signature in."""
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200, page.text
    files = flow.workdir / applyno
    files.mkdir()
    for name, element in (("applydata", "applydata-text"), ("envelope", "envelope-text")):
        found = re.search(rf'<pre id="{element}">([^<]*)</pre>', page.text)
        assert found, page.text
        (files / name).write_text(html.unescape(found.group(1)))
    (files / "key.pem").write_text(flow.bidder.key.to_pem())
    opened = baohan(
        "bidder", "open", "--applydata", str(files / "applydata"), "--envelope", str(files / "envelope"),
        "--key", str(files / "key.pem"),
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    key = opened.stdout.splitlines()[0]
    accepted = httpx.post(f"{url}/key", json={"key": key}, timeout=10)
    assert accepted.status_code == 200 and accepted.json()["state"] == "opened", accepted.text
    agreement = httpx.get(f"{url}/agreement", timeout=10)
    assert agreement.status_code == 200, agreement.text
    (files / "agreement.txt").write_bytes(agreement.content)
    signed = baohan(
        "bidder", "sign", "--agreement", str(files / "agreement.txt"), "--key", str(files / "key.pem")
    )
    assert signed.returncode == 0, signed.stderr
    done = httpx.post(
        f"{url}/signature",
        json={"certificate": flow.bidder.certificate.to_pem(), "signature": signed.stdout.strip()},
        timeout=10,
    )
    assert done.status_code == 200 and done.json()["state"] == "signed", done.text


@dataclass(kw_only=True)
class Flow(TenderDriver):
    """The served roles as the demo drives them (each admin API, the bidder), and the runtime, the base
    URL, a working directory and the admin listener."""

    runtime: shared.Runtime
    base: str
    workdir: Path
    admin_url: str
    bidder: Bidder
    bidder_steps: BidderSteps = cli_bidder

    def section(self, fields: dict[str, str] = SECTION, opens_in: timedelta = timedelta(days=1)) -> str:
        return super().section(fields, opens_in)

    def bidder_opens_and_signs(self, applyno: str) -> None:
        """The bidder of ``applyno`` at the page its ``redirecturl`` names opens the envelope and signs the
        agreement (:attr:`bidder_steps`)."""
        self.bidder_steps(self, applyno, self.redirect(applyno))

    def stage(self, side: str, applyno: str) -> str:
        admin = self.issuer if side == "issuer" else self.platform
        return str(admin.get(f"/applications/{applyno}").json()["stage"])

    def issued(self, applyno: str) -> dict[str, Any]:
        """Approved, paid and issued by the issuer's operator; the platform's copy once complete."""
        return self.issue(applyno)

    def agreed(self, section: str) -> str:
        """A new application the bidder opened and signed; its applyno."""
        applyno = self.apply(section)
        self.bidder_opens_and_signs(applyno)
        self.reaches("issuer", applyno, "agreed")
        return applyno

    def restored(self, section: str) -> str:
        """A new guarantee issued on ``section``, the section opened and the guarantee restored."""
        applyno = self.agreed(section)
        self.issued(applyno)
        opened = self.platform.post(f"/sections/{section}/open")
        assert opened.status_code == 200, opened.text
        self.reaches("issuer", applyno, "restored")
        self.reaches("platform", applyno, "restored")
        return applyno

    def guarantee(self, applyno: str, filetype: FileType, side: str = "platform") -> bytes:
        """The ``filetype`` guarantee OFD of ``applyno`` as ``side`` keeps it (the platform: as received)."""
        with self.runtime.sessions() as session:
            file_id = session.scalar(
                select(TenderGuaranteeFile.file_id)
                .join(TenderApplication, TenderApplication.id == TenderGuaranteeFile.application_pk)
                .where(
                    TenderApplication.applyno == applyno,
                    TenderApplication.side == side,
                    TenderGuaranteeFile.filetype == filetype,
                    TenderGuaranteeFile.state == "completed",
                )
            )
            assert file_id is not None, f"the {side} holds no completed {filetype} guarantee of {applyno}"
            return self.runtime.ground.files.get(session, file_id)

    def invoice_url(self, applyno: str) -> str | None:
        """The ``invoiceurl`` the platform was sent for ``applyno``, once it was."""
        with self.runtime.sessions() as session:
            return session.scalar(
                select(TenderInvoice.invoice_url)
                .join(TenderApplication, TenderApplication.id == TenderInvoice.application_pk)
                .where(TenderApplication.applyno == applyno, TenderApplication.side == "platform")
            )

    def invoiced_then_claim_paid(self, applyno: str) -> None:
        """After restore: the bidder asks for an invoice, the issuer's operator issues it (a PDF served at
        ``invoiceurl``), the tenderer claims and, nobody stopping it within the claim wait, it is paid."""
        asked = self.platform.post(f"/applications/{applyno}/invoice", json={"type": "0"})
        assert asked.status_code == 202, asked.text
        self.reaches("issuer", applyno, "invoice_requested")
        issued = self.issuer.post(f"/applications/{applyno}/invoice")
        assert issued.status_code == 200 and issued.json()["stage"] == "invoiced", issued.text
        self.reaches("platform", applyno, "invoiced")
        url = wait_for(lambda: self.invoice_url(applyno), "the invoiceurl kept by the platform")
        assert url.startswith(f"{self.base}/invoices/")
        pdf = httpx.get(url, timeout=10)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        claimed = self.platform.post(
            f"/applications/{applyno}/claims",
            json={
                "applyusername": SECTION["zbr"],
                "applyuserphone": "13800000000",
                "payeramount": "80000.00",
            },
        )
        assert claimed.status_code == 202, claimed.text
        self.reaches("issuer", applyno, "claimed")
        self.reaches("issuer", applyno, "claim_paid")
        records = self.issuer.get(f"/applications/{applyno}/aftercare").json()
        assert [i["status"] for i in records["invoices"]] == ["issued"]
        assert [c["status"] for c in records["claims"]] == ["paid"]

    def answered(self, interface: str) -> float:
        """Requests to ``interface`` this process answered with code 1 so far (its /metrics)."""
        text = httpx.get(f"{self.admin_url}/metrics", timeout=10).text
        label = f'interface="{interface}"'
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("baohan_requests_total{") and label in line and 'code="1"' in line
        )


@contextmanager
def serving(
    db_url: str, workdir: Path, *, bidder_steps: BidderSteps = cli_bidder, **profile: Any
) -> Iterator[Flow]:
    """Both roles served on a free loopback port until the block ends; ``profile`` sets the wire profile
    both use, ``bidder_steps`` how the bidder opens and signs (:func:`cli_bidder` by default)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bidder = make_bidder()
    ca_key = SM2PrivateKey.generate()
    ca = make_ca("CN=Flow Test CA,O=baohan,C=CN", ca_key)
    issuer_key, platform_key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    issuer_cert = issue_certificate(
        ca, ca_key, f"CN={INSTITUTION},O={INSTITUTION},C=CN", issuer_key.public_key
    )
    settings = IssuerSettings(
        base,
        INSTITUTION,
        trusted_bidder_cas=[bidder.ca],
        claim_wait=CLAIM_WAIT,
        aftercare=AftercareSettings(seller_code="91330100MA2INST001"),
    )
    runtime = shared.open_runtime(
        db_url,
        SecretBox(PASSPHRASE),
        [(build_issuer, settings), (build_platform, None)],
        shared.RuntimeSettings(policy=FAST, timeout=10),
    )
    issuer, platform = runtime.role("tender", "issuer"), runtime.role("tender", "platform")
    issuer_registry, platform_registry = issuer.registry, platform.registry
    assert isinstance(issuer_registry, Registry) and isinstance(platform_registry, Registry)
    issuer_registry.add_identity("default", issuer_key, issuer_cert, ca)
    platform_registry.add_identity("platform", platform_key)
    wire = TenderProfile(platformcode="P-FLOW", slice_size=SLICE, **profile)
    issuer_registry.add(
        name="交易平台",
        role="platform",
        appkey=APPKEY,
        appsecret=APPSECRET,
        public_key=platform_key.public_key,
        endpoint_url=f"{base}/platform/tender",
        profile=wire,
    )
    institution = platform_registry.add(
        name=INSTITUTION,
        role="institution",
        appkey=APPKEY,
        appsecret=APPSECRET,
        public_key=issuer_key.public_key,
        endpoint_url=f"{base}/tender",
        own_key_name="platform",
        profile=wire,
    )
    mounts = [
        web.issuer_mount(issuer, admin_prefix="/admin/tender/issuer"),
        web.platform_mount(platform, prefix="/platform/tender", admin_prefix="/admin/tender/platform"),
    ]
    server = BackgroundServer(host_app(runtime, mounts, admin_token=ADMIN), port)
    auth = {"Authorization": f"Bearer {ADMIN}"}
    admin_issuer = httpx.Client(base_url=f"{server.admin_url}/admin/tender/issuer", headers=auth, timeout=60)
    admin_platform = httpx.Client(
        base_url=f"{server.admin_url}/admin/tender/platform", headers=auth, timeout=60
    )
    try:
        yield Flow(
            issuer=admin_issuer,
            platform=admin_platform,
            bidder_key=bidder.key,
            bidder_certificate=bidder.certificate,
            institution_id=institution.id,
            runtime=runtime,
            base=base,
            workdir=workdir,
            admin_url=server.admin_url,
            bidder=bidder,
            bidder_steps=bidder_steps,
        )
    finally:
        admin_issuer.close()
        admin_platform.close()
        server.stop()
