"""The tender issuer served for real on loopback, and a platform that talks to it.

The platform is the recording endpoint of :mod:`tests.tender.wire_peer` (it answers baohannotice,
uploadbaohanfile, baohanfilecompletenotice and downloadpublickey, and keeps what it was sent) until the
real platform role lands; the test plays its operator: it seals applications for a bidder under a
project key it knows, calls baohanapply and baohanrestore with the real client, and opens the files the
issuer uploaded with the platform's SM2 key.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import httpx
from starlette.responses import PlainTextResponse

from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import RetryPolicy
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender import sealing
from baohan.protocols.tender.client import TenderClient
from baohan.protocols.tender.endpoint import Inbound, TenderChannel
from baohan.protocols.tender.files import FileKey, decrypt_file
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.wire import format_timestamp
from baohan.services.runtime import RuntimeSettings
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.runtime import IssuerRuntime, open_issuer
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer, free_port
from tests.tender.bidder_kit import Bidder, make_bidder
from tests.tender.wire_peer import PLATFORM_KEY, PLATFORMCODE, Served, serving

BOX = SecretBox("tender issuer test passphrase")
INSTITUTION = "示例融资担保股份有限公司"
PROJECT_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
PLAIN_PROJECT = {
    "biaoduanno": "BD-2026-SECRET-0042",
    "biaoduanname": "城东污水处理厂二期秘密标段",
    "zbr": "某某市秘密水务集团有限公司",
    "zbrorgnum": "91330100MA2SECRET7",
}
APPKEY = "AK-1"
PUBLIC_URL = "https://bank.example"


def platform_channel(appsecret: str | None = None, **profile: Any) -> TenderChannel:
    """The channel the platform calls the issuer with (and the recorder checks the issuer's calls with)."""
    return TenderChannel(
        appkey=APPKEY,
        appsecret=appsecret or f"secret-of-{APPKEY}",
        own_key=PLATFORM_KEY,
        profile=TenderProfile(platformcode=PLATFORMCODE, **profile),
    )


def application(
    bidder: Bidder, applyno: str, project_key: bytes | None = None
) -> tuple[dict[str, str], bytes]:
    """baohanapply's fields for ``bidder`` (project fields sealed under ``project_key``, by default
    PROJECT_KEY) and K."""
    inner = sealing.seal_project_fields(
        {
            "biddername": "投标人甲建设有限公司",
            "biddercode": "91330106MA27XXXX0K",
            "bzjamount": "80000.00",
            **PLAIN_PROJECT,
        },
        project_key or PROJECT_KEY,
    )
    applydata, envelope = sealing.seal_application(inner, bidder.certificate.public_key)
    key = sealing.open_envelope(envelope, bidder.key)
    fields = {"applyno": applyno, "applydata": applydata, "digitalenvelope": envelope}
    return fields, key


@dataclass
class World:
    """The issuer (runtime, its URL), the platform (recorder, client) and a bidder."""

    issuer: IssuerRuntime
    issuer_url: str
    platform: Served
    client: TenderClient
    bidder: Bidder
    profile: dict[str, Any]

    def call(
        self, interface: str, fields: dict[str, Any], channel: TenderChannel | None = None
    ) -> dict[str, Any]:
        """The platform calls the issuer."""
        return self.client.call(
            self.issuer_url, interface, fields, channel or platform_channel(**self.profile)
        )

    def deliver(self, rounds: int = 20) -> None:
        """Run the issuer's outbox until nothing is pending (dead letters aside) or ``rounds`` ran out."""
        for _ in range(rounds):
            if self.issuer.dispatcher.run_once() == 0:
                if self.issuer.pending() == 0:
                    return
                time.sleep(0.05)  # a retry waiting for its (short, in these tests) backoff

    def received(self, interface: str) -> list[Inbound]:
        """What the platform received of ``interface``, in order."""
        return [r for r in self.platform.platform.handled if r.interface == interface]

    def apply(self, applyno: str = "A-1", project_key: bytes | None = None) -> tuple[str, bytes]:
        """baohanapply for the bidder; the bidder page's token and K."""
        fields, key = application(self.bidder, applyno, project_key)
        answer = self.call("baohanapply", fields)
        return answer["redirecturl"].rsplit("/", 1)[1], key

    def agree(self, token: str, key: bytes) -> None:
        """The bidder opens the application and signs the agreement (as their browser would)."""
        desk = self.issuer.service.desk
        desk.accept_key(token, key.hex())
        text = desk.agreement(token)
        signature = base64.b64encode(self.bidder.key.sign(text)).decode()
        desk.accept_signature(token, self.bidder.certificate.to_pem(), signature)

    def app_pk(self, applyno: str = "A-1") -> str:
        ctx = self.issuer.context
        peer = ctx.registry.peer_by_appkey(APPKEY)
        assert peer is not None
        with ctx.sessions() as session:
            app = ctx.store.by_applyno(session, peer.id, applyno)
            assert app is not None
            return app.id

    def issued(self, applyno: str = "A-1", project_key: bytes | None = None) -> str:
        """Apply, agree, approve, pay and issue; the application's id once the sealed file is complete."""
        token, key = self.apply(applyno, project_key)
        self.agree(token, key)
        pk = self.app_pk(applyno)
        service = self.issuer.service
        app = service.approve(pk, rate=Decimal("0.005"), actor="op")
        service.record_payment(
            pk, amount=app.cost, actor="op", payer_name="某建设有限公司", payer_account="6222000011119999"
        )
        service.issue(pk, actor="op")
        self.deliver()
        return pk

    def restore_fields(self, applyno: str, kaibiaotime: datetime, key: bytes = PROJECT_KEY) -> dict[str, str]:
        baohanno = self.issuer.service.application(self.app_pk(applyno)).baohanno
        assert baohanno is not None
        return {
            "applyno": applyno,
            "baohanno": baohanno,
            "kaibiaotime": format_timestamp(kaibiaotime),
            "key": key.hex(),
        }

    def file(self, filetype: str, applyno: str = "A-1", digest: Literal["md5", "sm3"] = "md5") -> bytes:
        """The file the platform received (filetype "1" or "2"), decrypted with the key and iv it was sent."""
        [done] = [
            r
            for r in self.received("baohanfilecompletenotice")
            if r.model.filetype == filetype and r.model.applyno == applyno
        ]
        key = sealing.open_file_secret(done.model.key, PLATFORM_KEY, "key")
        iv = sealing.open_file_secret(done.model.iv, PLATFORM_KEY, "iv")
        slices = sorted(
            (
                r
                for r in self.received("uploadbaohanfile")
                if r.model.filetype == filetype and r.model.applyno == applyno
            ),
            key=lambda r: r.model.index,
        )
        return b"".join(
            decrypt_file(
                [bytes(r.model.baohanfile) for r in slices],
                FileKey(key, iv),
                expected=done.model.baohanfilemd5,
                digest=digest,
            )
        )


def past(minutes: int = 5) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


@contextmanager
def world(db_url: str, **profile: Any) -> Iterator[World]:
    """The issuer on ``db_url`` serving on loopback, the recording platform it calls, a bidder."""
    bidder = make_bidder()
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca("CN=Institution Test CA,O=baohan,C=CN", ca_key)
    certificate = issue_certificate(ca, ca_key, f"CN={INSTITUTION},O={INSTITUTION},C=CN", key.public_key)
    settings = IssuerSettings(PUBLIC_URL, INSTITUTION, trusted_bidder_cas=[bidder.ca])
    # Retries come at once: a test sees the second attempt without waiting for a real backoff.
    quick = RetryPolicy(base=timedelta(milliseconds=10), max_delay=timedelta(milliseconds=10), jitter=0)
    issuer = open_issuer(db_url, BOX, settings, RuntimeSettings(migrate=False, policy=quick))
    issuer.registry.add_identity("default", key, certificate, ca)
    recorder_channel = TenderChannel(
        APPKEY, f"secret-of-{APPKEY}", key, profile=TenderProfile(platformcode=PLATFORMCODE, **profile)
    )

    async def not_found(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("not found", status_code=404)(scope, receive, send)

    service = issuer.service
    server = BackgroundServer(
        ProtocolFront(not_found, [TenderWire(service, service.served)]), free_port(), lifespan="off"
    )
    try:
        with serving(recorder_channel) as platform, httpx.Client(timeout=30) as http:
            issuer.registry.add(
                name="platform",
                role="platform",
                appkey=APPKEY,
                appsecret=f"secret-of-{APPKEY}",
                public_key=SM2PrivateKey.generate().public_key,  # stale: downloadpublickey brings the real one
                endpoint_url=platform.platform_url,
                profile=TenderProfile(platformcode=PLATFORMCODE, **profile),
            )
            yield World(issuer, server.url + "/tender", platform, TenderClient(http), bidder, profile)
    finally:
        server.stop()
        issuer.stop()
