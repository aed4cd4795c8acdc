"""The tender platform's admin API over real HTTP: bid sections, offers, the bidder's submission (sealed
for their certificate, sent to the institution), and the refusals in the admin API's one shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.tables import ISSUER_SERVES
from baohan.services import runtime as shared
from baohan.services.tender.platform_runtime import build_platform
from baohan.web import tender as web
from baohan.web.front import ProtocolFront
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from tests.procurement.harness import ADMIN, FAST, PASSPHRASE, wait_for
from tests.tender.bidder_kit import make_bidder
from tests.tender.wire_peer import ISSUER_KEY, Recorder, channel

SECTION = {
    "biaoduanno": "BD-FRONT-0001",
    "biaoduanname": "城西体育馆钢结构标段",
    "zbr": "某市体育发展有限公司",
    "zbrorgnum": "91330100MA2FRONT01",
}


@dataclass
class Served:
    admin: httpx.Client
    institution: Recorder
    institution_id: str


@pytest.fixture
def served(db_url: str) -> Iterator[Served]:
    runtime = shared.open_runtime(
        db_url,
        SecretBox(PASSPHRASE),
        [(build_platform, None)],
        shared.RuntimeSettings(policy=FAST, timeout=5),
    )
    hosted = runtime.role("tender", "platform")
    hosted.registry.add_identity("default", SM2PrivateKey.generate())
    wire = channel("INST-FRONT")
    institution = Recorder({wire.appkey: wire})
    peer_server = BackgroundServer(
        ProtocolFront(_nothing, [TenderWire(institution, ISSUER_SERVES)]), free_port(), lifespan="off"
    )
    peer = hosted.registry.add(
        name="某某担保有限公司",
        role="institution",
        appkey=wire.appkey,
        appsecret=wire.appsecret,
        public_key=ISSUER_KEY.public_key,
        endpoint_url=f"{peer_server.url}/tender",
        profile=wire.profile,
    )
    server = BackgroundServer(host_app(runtime, [web.platform_mount(hosted)], admin_token=ADMIN), free_port())
    admin = httpx.Client(
        base_url=f"{server.admin_url}/admin/tender", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
    )
    try:
        yield Served(admin, institution, peer.id)
    finally:
        admin.close()
        server.stop()
        peer_server.stop()


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("only the tender wire is served here")


def _section(admin: httpx.Client, opens_in: timedelta = timedelta(days=1)) -> str:
    opening = (datetime.now(UTC) + opens_in).isoformat()
    reply = admin.post("/sections", json={**SECTION, "kaibiaotime": opening})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def test_a_bidder_applies_with_the_offer_chosen_and_the_project_fields_never_show(served: Served) -> None:
    admin = served.admin
    section = _section(admin)
    offers = [
        admin.post(
            f"/sections/{section}/quotes",
            json={
                "bidder_code": "91330106MA27XXXX0K",
                "institution_id": served.institution_id,
                "product": product,
                "rate": rate,
                "bzj_amount": "80000.00",
            },
        )
        for product, rate in (("投标保函A", "0.0150"), ("投标保函B", "0.0120"))
    ]
    assert [o.status_code for o in offers] == [201, 201], offers[0].text
    listed = admin.get(f"/sections/{section}/quotes", params={"bidder_code": "91330106MA27XXXX0K"}).json()
    assert [(q["product"], q["premium"]) for q in listed] == [
        ("投标保函B", "960.00"),
        ("投标保函A", "1200.00"),
    ]

    bidder = make_bidder()
    submitted = admin.post(
        "/applications",
        json={
            "section_id": section,
            "quote_id": listed[0]["id"],
            "bidder_name": "投标人甲建设有限公司",
            "bidder_code": "91330106MA27XXXX0K",
            "bzj_amount": "80000.00",
            "certificate": bidder.certificate.to_pem(),
        },
    )
    assert submitted.status_code == 202, submitted.text
    app = submitted.json()
    assert app["stage"] == "applied" and app["project_fields"] is None
    assert set(app["sealed_fields"]) == set(SECTION)
    assert not set(SECTION.values()) & set(app["sealed_fields"].values())  # ciphertext only

    [request] = wait_for(lambda: served.institution.handled or None, "baohanapply delivered")
    assert request.interface == "baohanapply" and request.fields["applyno"] == app["applyno"]
    redirect = wait_for(
        lambda: admin.get(f"/applications/{app['applyno']}/redirect").json()["redirecturl"],
        "the redirect kept",
    )
    assert redirect == f"https://bank.example/open/{app['applyno']}"
    page = admin.get("/applications", params={"stage": "applied"}).json()
    assert page["total"] == 1 and page["items"][0]["id"] == app["id"]
    history = admin.get(f"/applications/{app['id']}/history").json()
    assert history["items"][0]["event"] == "apply"
    assert admin.post(f"/sections/{section}/open").json() == {"restoring": 0}  # nothing issued yet
    [listed_section] = admin.get("/sections").json()["items"]
    assert listed_section["biaoduanno"] == SECTION["biaoduanno"] and listed_section["opened_at"]
    assert listed_section["kaibiaotime"].endswith("+08:00")


def test_refusals_are_the_admin_api_shape(served: Served) -> None:
    admin = served.admin
    assert admin.get("/applications/nope").status_code == 404
    assert admin.get("/applications/nope").json()["code"] == "not_found"
    bad = admin.post("/sections", json={**SECTION, "kaibiaotime": "2026-12-01T09:00:00"})
    assert bad.status_code == 422 and "time zone" in bad.text
    section = _section(admin)
    stranger = admin.post(
        f"/sections/{section}/quotes",
        json={
            "bidder_code": "X",
            "institution_id": "no-such",
            "product": "P",
            "rate": "0.01",
            "bzj_amount": "1.00",
        },
    )
    assert stranger.status_code == 409 and "institution" in stranger.json()["message"]
    gone = admin.post("/applications/nope/quit", json={"reason": "不投了"})
    assert gone.status_code == 404
    unauthorised = httpx.get(str(admin.base_url).rstrip("/") + "/applications")
    assert unauthorised.status_code == 401


def test_institutions_are_registered_checked_and_listed(served: Served) -> None:
    admin = served.admin
    body = {
        "name": "另一担保有限公司",
        "appkey": "INST-OTHER",
        "appsecret": "another-appsecret-01",
        "public_key": SM2PrivateKey.generate().public_key.to_hex(),
        "endpoint_url": "https://other.example/tender",
        "profile": {"sign": "sm3-key", "sm4_key_text": "ascii"},
    }
    added = admin.post("/institutions", json=body)
    assert added.status_code == 201, added.text
    assert added.json()["appkey"] == "INST-OTHER" and "appsecret" not in added.json()
    again = admin.post("/institutions", json=body)
    assert again.status_code == 409, again.text
    wrong = admin.post("/institutions", json={**body, "appkey": "X2", "profile": {"sign": "md5"}})
    assert wrong.status_code == 422 and "sign" in wrong.text
    bad_key = admin.post("/institutions", json={**body, "appkey": "X3", "public_key": "04abc"})
    assert bad_key.status_code == 422
    listed = admin.get("/counterparties").json()
    assert {c["appkey"] for c in listed["items"]} == {"INST-FRONT", "INST-OTHER"}
