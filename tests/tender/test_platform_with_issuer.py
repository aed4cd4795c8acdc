"""The platform and the real issuer role, each on its own database and served on loopback, from the
bidder's submission to the restored guarantee: the two halves of spec 004 meet over real HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.responses import PlainTextResponse

from baohan.adapters.db.tables import TenderApplication
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.sealing import open_envelope
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.runtime import IssuerRuntime, open_issuer
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer, free_port
from tests.tender.bidder_kit import make_bidder
from tests.tender.platform_kit import (
    APPKEY,
    BOX,
    BZJ,
    INSTITUTION_KEY,
    PLAIN,
    PLATFORM_KEY,
    platform,
    profile,
)

INSTITUTION = "示例融资担保股份有限公司"


@contextmanager
def issuer(db_url: str, trusted: Any) -> Iterator[tuple[IssuerRuntime, str]]:
    """The real issuer on ``db_url`` served on loopback; (runtime, its tender prefix URL)."""
    ca_key = SM2PrivateKey.generate()
    ca = make_ca("CN=Institution Test CA,O=baohan,C=CN", ca_key)
    cert = issue_certificate(ca, ca_key, f"CN={INSTITUTION},O={INSTITUTION},C=CN", INSTITUTION_KEY.public_key)
    runtime = open_issuer(
        db_url, BOX, IssuerSettings("https://bank.example", INSTITUTION, trusted_bidder_cas=[trusted])
    )
    runtime.registry.add_identity("default", INSTITUTION_KEY, cert, ca)

    async def not_found(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("not found", status_code=404)(scope, receive, send)

    service = runtime.service
    server = BackgroundServer(
        ProtocolFront(not_found, [TenderWire(service, service.served)]), free_port(), lifespan="off"
    )
    try:
        yield runtime, f"{server.url}/tender"
    finally:
        server.stop()
        runtime.stop()


def _drain(*dispatchers: Any) -> None:
    for _ in range(20):
        if sum(d.run_once() for d in dispatchers) == 0:
            return


def test_the_platform_and_the_issuer_meet(db_url: str, tmp_path: Path) -> None:
    bidder = make_bidder()
    with (
        issuer(f"sqlite:///{tmp_path / 'issuer.db'}", bidder.ca) as (inst, inst_url),
        platform(db_url, institution_url=inst_url, slice_size=1 << 20) as p,
    ):
        inst.registry.add(
            name="platform",
            role="platform",
            appkey=APPKEY,
            appsecret="secret-of-inst",
            public_key=PLATFORM_KEY.public_key,
            endpoint_url=p.institution.url,
            profile=profile(slice_size=1 << 20),
        )
        section = p.role.add_section(PLAIN, datetime.now(UTC) + timedelta(days=1))
        quote = p.role.offer(
            section, "91330100MA2BIDDER1", p.institution_id, "投标保函", Decimal("0.005"), BZJ
        )
        app = p.role.submit(
            section,
            quote.id,
            bidder_name="某某建设有限公司",
            bidder_code="91330100MA2BIDDER1",
            bzj_amount=BZJ,
            certificate_pem=bidder.certificate.to_pem(),
        )
        p.deliver()
        url = p.role.redirect_url(app.applyno)
        assert url is not None and url.startswith("https://bank.example/bidder/")

        # The bidder opens the application at the institution and signs; the institution underwrites.
        token = url.rsplit("/", 1)[1]
        desk = inst.service.desk
        desk.accept_key(token, open_envelope(app.digitalenvelope, bidder.key).hex())
        text = desk.agreement(token)
        desk.accept_signature(
            token, bidder.certificate.to_pem(), base64.b64encode(bidder.key.sign(text)).decode()
        )
        with inst.sessions() as session:
            pk = session.query(TenderApplication.id).filter(TenderApplication.applyno == app.applyno).scalar()
        approved = inst.service.approve(pk, rate=Decimal("0.005"), actor="op")
        inst.service.record_payment(pk, amount=approved.cost, actor="op")
        inst.service.issue(pk, actor="op")
        _drain(inst.dispatcher, p.runtime.dispatcher)
        mine = p.role.application(app.applyno)
        assert mine.stage == "sealed_completed" and mine.cost == Decimal("4000.00")

        p.role.open_section_now(section)
        _drain(p.runtime.dispatcher, inst.dispatcher, p.runtime.dispatcher)
        assert p.role.application(app.applyno).stage == "restored"
