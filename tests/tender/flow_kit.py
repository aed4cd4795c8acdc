"""Both tender roles for real, in one process on one database with one dispatcher, behind one server:
the issuer at ``/tender`` (its bidder page at ``/bidder``), the platform at ``/platform/tender``, each with
its admin API; they talk to each other over real HTTP through the outbox. The bidder opens and signs with
the ``baohan bidder`` commands, on their own key, and the page's JSON calls."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from baohan.adapters.keystore import SecretBox
from baohan.cli.tender_tour import TenderDriver
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.profile import TenderProfile
from baohan.services import runtime as shared
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.platform_runtime import build_platform
from baohan.services.tender.registry import Registry
from baohan.services.tender.runtime import build_issuer
from baohan.web import tender as web
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from tests.cli.test_cli_errors import baohan
from tests.procurement.harness import ADMIN, FAST, PASSPHRASE
from tests.tender.bidder_kit import make_bidder

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


@dataclass(kw_only=True)
class Flow(TenderDriver):
    """The served roles as the demo drives them (each admin API, the bidder), and the runtime, the base
    URL, a working directory and the admin listener."""

    runtime: shared.Runtime
    base: str
    workdir: Path
    admin_url: str

    def section(self, fields: dict[str, str] = SECTION, opens_in: timedelta = timedelta(days=1)) -> str:
        return super().section(fields, opens_in)

    def bidder_opens_and_signs(self, applyno: str) -> None:
        """The bidder's page: read the sealed application, open it with ``baohan bidder open``, hand K in,
        sign the agreement with ``baohan bidder sign``, hand the signature in."""
        url = self.redirect(applyno)
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200, page.text
        files = self.workdir / applyno
        files.mkdir()
        for name, element in (("applydata", "applydata-text"), ("envelope", "envelope-text")):
            found = re.search(rf'<pre id="{element}">([^<]*)</pre>', page.text)
            assert found, page.text
            (files / name).write_text(html.unescape(found.group(1)))
        (files / "key.pem").write_text(self.bidder_key.to_pem())
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
            json={"certificate": self.bidder_certificate.to_pem(), "signature": signed.stdout.strip()},
            timeout=10,
        )
        assert done.status_code == 200 and done.json()["state"] == "signed", done.text

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
def serving(db_url: str, workdir: Path, **profile: Any) -> Iterator[Flow]:
    """Both roles served on a free loopback port until the block ends."""
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
        )
    finally:
        admin_issuer.close()
        admin_platform.close()
        server.stop()
