"""The tender platform served for real on loopback, and an institution driving it with TenderClient.

The platform's TenderWire and a recording institution (tests.tender.wire_peer.Recorder, answering what the
platform sends it) sit behind one ProtocolFront under uvicorn; the platform runs on a real database
(SQLite or PostgreSQL, from tests/db/fixtures.py) with its outbox delivered by ``deliver()``.
"""

from __future__ import annotations

import base64
import itertools
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from baohan.adapters import outbox
from baohan.adapters.documents.tender_guarantee import (
    InstitutionSeal,
    SignedAgreement,
    TenderGuarantee,
    plain_guarantee,
    sealed_guarantee,
)
from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.client import TenderClient
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.files import EncryptedFile, FileKey
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.sealing import KeyText, seal_file_secret
from baohan.protocols.tender.tables import ISSUER_SERVES
from baohan.services import runtime as shared
from baohan.services.runtime import RuntimeSettings
from baohan.services.tender.platform import TenderPlatform
from baohan.services.tender.platform_runtime import PlatformSettings, open_platform
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer, free_port
from tests.documents.ofd.conftest import INSTITUTION, KIT
from tests.tender.wire_peer import Recorder

PASSPHRASE = "tender platform test passphrase"
BOX = SecretBox(PASSPHRASE)
PLATFORM_KEY, INSTITUTION_KEY = SM2PrivateKey.generate(), SM2PrivateKey.generate()
PLATFORMCODE = "P-0001"
APPKEY = "INST-1"
SLICE = 4096  # small slices: a guarantee of some 30 KB goes in several
PLAIN = {
    "biaoduanno": "BD-2026-SECRET-0042",
    "biaoduanname": "城东污水处理厂二期标段",
    "zbr": "某某市水务集团有限公司",
    "zbrorgnum": "91330100MA2SECRET7",
}
BIDDER_NAME, BIDDER_CODE, BZJ = "某某建设有限公司", "91330100MA2BIDDER1", Decimal("800000.00")
_SECTIONS = itertools.count(1)
SEAL = InstitutionSeal(KIT.seal, KIT.user.key, KIT.user.cert)


def _bidder() -> tuple[SM2PrivateKey, SM2Certificate]:
    now = datetime.now(UTC)
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca("CN=Bidder CA,O=baohan,C=CN", ca_key, now=now - timedelta(days=2))
    return key, issue_certificate(
        ca, ca_key, "CN=某某建设有限公司,C=CN", key.public_key, now=now - timedelta(days=1)
    )


BIDDER_KEY, BIDDER_CERT = _bidder()


def profile(**settings: Any) -> TenderProfile:
    """The institution's profile as both sides hold it."""
    return TenderProfile(platformcode=PLATFORMCODE, **{"slice_size": SLICE, **settings})


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("not found", status_code=404)(scope, receive, send)


@dataclass
class Institution:
    """The institution's side: its channel to the platform, a client, and the recorder of what it got."""

    channel: TenderChannel
    url: str
    recorder: Recorder
    client: TenderClient = field(default_factory=lambda: TenderClient(httpx.Client(timeout=30)))

    def call(self, interface: str, **fields: Any) -> dict[str, Any]:
        """Call the platform's ``interface``; its data (TenderRefused on code 0)."""
        return self.client.call(self.url, interface, fields, self.channel)

    def received(self, interface: str) -> list[dict[str, Any]]:
        """The fields of every ``interface`` request the platform sent us, in order."""
        return [dict(r.fields) for r in self.recorder.handled if r.interface == interface]


@dataclass
class Platform:
    """The platform under test: its runtime, its role and the institution registered with it."""

    runtime: shared.Runtime
    role: TenderPlatform
    institution: Institution
    institution_id: str

    def deliver(self) -> int:
        """Deliver every due outbox message; how many were handled."""
        total = 0
        while handled := self.runtime.dispatcher.run_once():
            total += handled
        return total


@contextmanager
def platform(
    db_url: str,
    institution_url: str | None = None,
    trusted: Sequence[SM2Certificate] | None = None,
    **settings: Any,
) -> Iterator[Platform]:
    """The platform on ``db_url`` served on loopback with one institution (profile ``settings``): the
    recorder here, or the institution served at ``institution_url``."""
    hosted = open_platform(
        db_url,
        BOX,
        PlatformSettings(trusted_seal_cas=trusted),
        RuntimeSettings(migrate=False, policy=outbox.RetryPolicy(base=timedelta(milliseconds=50))),
    )
    runtime, service, registry = hosted.runtime, hosted.service, hosted.registry
    registry.add_identity("default", PLATFORM_KEY)
    their = TenderChannel(
        APPKEY, "secret-of-inst", INSTITUTION_KEY, PLATFORM_KEY.public_key, profile(**settings)
    )
    recorder = Recorder({APPKEY: their})
    front = ProtocolFront(
        _not_found,
        [
            TenderWire(service, service.served, prefix="/platform/tender"),
            TenderWire(recorder, ISSUER_SERVES, prefix="/issuer/tender"),
        ],
    )
    server = BackgroundServer(front, free_port(), lifespan="off")
    try:
        peer = registry.add(
            name="某担保有限公司",
            role="institution",
            appkey=APPKEY,
            appsecret="secret-of-inst",
            public_key=INSTITUTION_KEY.public_key,
            endpoint_url=institution_url or f"{server.url}/issuer/tender",
            profile=profile(**settings),
        )
        institution = Institution(their, f"{server.url}/platform/tender", recorder)
        yield Platform(runtime, service, institution, peer.id)
    finally:
        server.stop()
        runtime.stop()


def applied(
    p: Platform, *, opens_in: timedelta = timedelta(days=1), key_text: KeyText = "hex"
) -> tuple[str, str]:
    """A bid section and an application submitted to the institution, delivered: (section id, applyno)."""
    fields = {**PLAIN, "biaoduanno": f"{PLAIN['biaoduanno']}-{next(_SECTIONS)}"}
    section = p.role.add_section(fields, datetime.now(UTC) + opens_in, key_text=key_text)
    quote = p.role.offer(section, BIDDER_CODE, p.institution_id, "投标保函", Decimal("0.005"), BZJ)
    app = p.role.submit(
        section,
        quote.id,
        bidder_name=BIDDER_NAME,
        bidder_code=BIDDER_CODE,
        bzj_amount=BZJ,
        certificate_pem=BIDDER_CERT.to_pem(),
    )
    p.deliver()
    return section, app.applyno


def notice_fields(applyno: str, status: str = "1") -> dict[str, Any]:
    """A baohannotice approving (or refusing) ``applyno``."""
    return {
        "applyno": applyno,
        "baohanno": f"G-{applyno[:40]}",
        "instname": INSTITUTION,
        "generatetime": "2026-11-30 10:00:00",
        "rate": "0.005",
        "cost": "4000.00",
        "applystatus": status,
    }


def approved(p: Platform, *, opens_in: timedelta = timedelta(days=1)) -> tuple[str, str, str]:
    """As :func:`applied`, then underwritten by the institution: (section id, applyno, baohanno)."""
    section, applyno = applied(p, opens_in=opens_in)
    fields = notice_fields(applyno)
    p.institution.call("baohannotice", **fields)
    return section, applyno, fields["baohanno"]


def guarantee_facts(p: Platform, applyno: str, baohanno: str, *, plain: bool = False) -> TenderGuarantee:
    """What the institution's guarantee states: project fields as the ciphertext received, or plain."""
    app = p.role.application(applyno)
    sealed = dict(app.sealed_fields or {})
    project = dict(app.project_fields or {}) if plain else sealed
    now = datetime.now(UTC)
    return TenderGuarantee(
        guarantee_no=baohanno,
        institution=INSTITUTION,
        bidder_name=BIDDER_NAME,
        bidder_code=BIDDER_CODE,
        amount=BZJ,
        bid_section_no=project["biaoduanno"],
        bid_section_name=project["biaoduanname"],
        tenderer=project["zbr"],
        tenderer_code=project.get("zbrorgnum", ""),
        valid_from=now,
        valid_to=now + timedelta(days=90),
        issued_at=now,
    )


def sealed_ofd(p: Platform, applyno: str, baohanno: str) -> bytes:
    """The institution's sealed guarantee for ``applyno``, with a signed agreement attached."""
    text = "投保协议：投标人某某建设有限公司申请出具投标保函".encode()
    agreement = SignedAgreement("agreement.txt", text, BIDDER_KEY.sign(text), BIDDER_CERT)
    return sealed_guarantee(guarantee_facts(p, applyno, baohanno), agreement, SEAL)


def plain_ofd(p: Platform, applyno: str, baohanno: str, sealed: bytes) -> bytes:
    """The restored guarantee: project fields in plain text, ``sealed`` attached."""
    return plain_guarantee(guarantee_facts(p, applyno, baohanno, plain=True), sealed, SEAL)


@dataclass
class Encrypted:
    """A guarantee file as the institution sends it: slices, key and iv, digest."""

    slices: list[bytes]
    key: FileKey
    digest: str


def encrypt(document: bytes, *, digest: str = "md5", slice_size: int = SLICE) -> Encrypted:
    """``document`` encrypted under a fresh key and cut into slices."""
    encrypted = EncryptedFile([document], FileKey.fresh(), slice_size=slice_size, digest=digest)  # type: ignore[arg-type]
    slices = list(encrypted)
    return Encrypted(slices, encrypted.key, encrypted.digest)


def upload(
    p: Platform,
    applyno: str,
    baohanno: str,
    file: Encrypted,
    filetype: str = "1",
    order: Sequence[int] | None = None,
) -> None:
    """Upload the slices numbered ``order`` (default: all, shuffled, the first twice)."""
    numbers = list(order) if order is not None else list(range(1, len(file.slices) + 1))
    if order is None:
        random.Random(7).shuffle(numbers)
        numbers.append(numbers[0])
    for number in numbers:
        p.institution.call(
            "uploadbaohanfile",
            applyno=applyno,
            baohanno=baohanno,
            baohanfile=base64.b64encode(file.slices[number - 1]).decode("ascii"),
            filetype=filetype,
            index=str(number),
        )


def completion(
    applyno: str,
    baohanno: str,
    file: Encrypted,
    filetype: str = "1",
    *,
    for_key: SM2PrivateKey = PLATFORM_KEY,
) -> dict[str, Any]:
    """The completion notice of ``file``: its key and iv sealed for ``for_key``'s public key."""
    return {
        "applyno": applyno,
        "baohanno": baohanno,
        "key": seal_file_secret(file.key.key, for_key.public_key),
        "iv": seal_file_secret(file.key.iv, for_key.public_key),
        "baohanfilemd5": file.digest,
        "filetype": filetype,
    }
