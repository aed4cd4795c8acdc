"""``baohan sandbox tender``: a live tender issuer or platform with fresh keys, a test CA of its own and
printed credentials (PRODUCT.md: "A tender sandbox prints one JSON line once ready").

The sandbox's CA issues our identity's certificate (the institution's seal lists it) and a bidder's, whose
private key is printed so the integrator can play the bidder (``baohan bidder open``/``sign``). As issuer,
it registers a platform for the integrator and answers that platform's calls; what it sends a platform
goes to a recording platform of its own (``notify_url``), listed on the admin listener. As platform, it
registers an institution for the integrator (at ``--counterparty-url``), a bid section whose project key
it prints, and an offer from that institution to the bidder.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi import APIRouter, Query

from baohan.adapters.db.engine import utcnow
from baohan.cli import sandbox_kit as kit
from baohan.cli.inputs import CLIError, http_url, one_line_errors
from baohan.cli.roles import check_role
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.sealing import encode_key, new_project_key
from baohan.services import runtime as shared
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.platform import TenderPlatform
from baohan.services.tender.platform_runtime import build_platform
from baohan.services.tender.registry import PROTOCOL, Registry
from baohan.services.tender.runtime import build_issuer
from baohan.web import tender as web
from baohan.web.bidder import SmCryptoMissing, sm_crypto_dir
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from baohan.web.tender_receiver import CallRecorder, receiver_app

INSTITUTION = "baohan 沙箱担保有限公司"
CREDIT_CODE = "91330100SANDBOX01Z"
BIDDER = ("投标人沙箱建设有限公司", "91330106SANDBOX00X")
BZJ = Decimal("80000.00")
SECTION = {
    "biaoduanno": "SBX-BD-0001",
    "biaoduanname": "沙箱市政道路改造工程施工标段",
    "zbr": "沙箱市城市建设投资集团有限公司",
    "zbrorgnum": "91330100SANDBOX01Y",
}


def _received_routes(recorder: CallRecorder) -> APIRouter:
    routes = APIRouter(tags=["sandbox"])  # the host puts it behind the operators' tokens

    @routes.get(kit.RECEIVED)
    def received(
        interface: Annotated[str | None, Query(description="Only this interface (baohannotice, …).")] = None,
        applyno: Annotated[
            str | None, Query(description="Only calls naming this applyno or baohanno.")
        ] = None,
    ) -> list[dict[str, Any]]:
        """The calls the sandbox made to its platform, as they arrived (fields as sent, sign included)."""
        return recorder.listing(interface, applyno)

    return routes


@one_line_errors
def tender(
    role: kit.Role = "issuer",
    port: kit.Port = 8700,
    admin_port: kit.AdminPort = None,
    db: kit.Db = None,
    counterparty_url: Annotated[
        str | None,
        typer.Option(help="Role platform: where your institution serves the tender interfaces (its prefix)."),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            envvar="BAOHAN_ADMIN_TOKEN", help="The admin API's bearer token (a fresh one when not given)."
        ),
    ] = None,
) -> None:
    """Start a tender issuer or platform with fresh keys, a test CA and one registered counterparty.

    Prints one JSON line with the URL, credentials, keys, the bidder's certificate and key and the project
    key once it is ready, then serves until killed.
    """
    admin_port = kit.admin_port_for(port, admin_port)
    check_role(role)
    if counterparty_url is not None:
        if role != "platform":
            raise CLIError(
                "--counterparty-url is for --role platform (the issuer sandbox answers your platform)"
            )
        counterparty_url = http_url(counterparty_url, "--counterparty-url").rstrip("/")
    kit.check_token(admin_token)
    if role == "issuer":
        try:  # the bidder page needs sm-crypto's browser build: said now, not when a bidder comes
            sm_crypto_dir()
        except SmCryptoMissing as exc:
            raise CLIError(str(exc)) from None
    with kit.workspace() as workdir:
        _run(role, port, admin_port, db, counterparty_url, admin_token or secrets.token_urlsafe(24), workdir)


def _run(
    role: str,
    port: int,
    admin_port: int,
    db: str | None,
    counterparty_url: str | None,
    admin_token: str,
    workdir: Path,
) -> None:
    db_url = kit.database(db, workdir)
    url = f"http://127.0.0.1:{port}"
    box = kit.key_store()
    ca_key, own_key, client_key, bidder_key = (SM2PrivateKey.generate() for _ in range(4))
    ca = make_ca("CN=baohan Sandbox CA,O=baohan,C=CN", ca_key)
    own_name = INSTITUTION if role == "issuer" else "baohan Sandbox platform"
    own_cert = issue_certificate(ca, ca_key, f"CN={own_name},O={own_name},C=CN", own_key.public_key)
    bidder_cert = issue_certificate(ca, ca_key, f"CN={BIDDER[0]},C=CN", bidder_key.public_key)
    appkey, appsecret = f"SBX{secrets.token_hex(6)}", secrets.token_urlsafe(24)
    profile = TenderProfile(platformcode=f"SBXP{secrets.token_hex(4).upper()}")
    builder: tuple[shared.RoleBuilder, Any] = (build_platform, None)
    if role == "issuer":
        settings = IssuerSettings(
            url,
            INSTITUTION,
            trusted_bidder_cas=[ca],
            aftercare=AftercareSettings(seller_code=CREDIT_CODE),
        )
        builder = (build_issuer, settings)
    runtime = shared.open_runtime(db_url, box, [builder])
    hosted = runtime.role(PROTOCOL, role)
    registry = hosted.registry
    assert isinstance(registry, Registry)
    registry.add_identity("default", own_key, own_cert, ca)
    line: dict[str, Any] = {}
    servers: list[BackgroundServer] = []
    extra: APIRouter | None = None
    try:
        if role == "issuer":
            # What the sandbox sends a platform goes to a recording platform of its own, holding the
            # platform key printed as client_*: it answers downloadpublickey with it.
            channel = TenderChannel(appkey, appsecret, client_key, own_key.public_key, profile)
            recorder = CallRecorder(channel)
            relay_port = free_port()
            servers.append(kit.serve(receiver_app(recorder), relay_port))
            notify_url = f"http://127.0.0.1:{relay_port}/tender"
            registry.add(
                name="Sandbox platform",
                role="platform",
                appkey=appkey,
                appsecret=appsecret,
                public_key=client_key.public_key,
                endpoint_url=notify_url,
                profile=profile,
            )
            project_key = new_project_key()
            extra = _received_routes(recorder)
            mount = web.issuer_mount(hosted)
        else:
            peer = registry.add(
                name="Sandbox institution",
                role="institution",
                appkey=appkey,
                appsecret=appsecret,
                public_key=client_key.public_key,
                endpoint_url=counterparty_url or "http://127.0.0.1:9/tender",
                profile=profile,
            )
            platform = hosted.service
            assert isinstance(platform, TenderPlatform)
            section_id = platform.add_section(SECTION, utcnow() + timedelta(days=7))
            quote = platform.offer(section_id, BIDDER[1], peer.id, "投标保函", Decimal("0.0150"), BZJ)
            with runtime.sessions() as session:
                project_key = platform.sections.project_key(platform.sections.get(session, section_id))
            notify_url = f"{url}/tender"
            line |= {"institution_id": peer.id, "section_id": section_id, "quote_id": quote.id}
            mount = web.platform_mount(hosted)
        served = kit.serve(host_app(runtime, [mount], admin_token=admin_token, extra=extra), port, admin_port)
        servers.append(served)
        line = {
            "protocol": PROTOCOL,
            "role": role,
            "url": f"{url}/tender",
            "appkey": appkey,
            "appsecret": appsecret,
            "platformcode": profile.platformcode,
            "server_public_key": own_key.public_key.to_hex(),
            "client_private_key": client_key.to_hex(),
            "client_public_key": client_key.public_key.to_hex(),
            "project_key": encode_key(project_key),
            "bidder_certificate": bidder_cert.to_pem(),
            "bidder_private_key": bidder_key.to_hex(),
            "profile": profile.to_dict(),
            "notify_url": notify_url,
            **line,
            "admin_url": f"{served.admin_url}/admin/tender",
            "admin_token": admin_token,
            "db": db_url,
            "workdir": str(workdir),
        }
        if role == "issuer":
            line["received_url"] = f"{served.admin_url}{kit.RECEIVED}"
        kit.announce_and_wait(line, workdir)
    finally:
        for server in reversed(servers):
            server.stop()
        runtime.stop()
