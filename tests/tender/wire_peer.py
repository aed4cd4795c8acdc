"""A tender wire served for real on loopback: both roles' TenderWire behind one ProtocolFront under
uvicorn, with a small recording endpoint, and valid fields for each of the 14 interfaces."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from baohan.gm import SM2PrivateKey
from baohan.protocols.tender.endpoint import Answer, Inbound, TenderChannel
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.tables import INTERFACES, ISSUER_SERVES, PLATFORM_SERVES
from baohan.protocols.tender.wire import TenderError, format_timestamp
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer, free_port

PLATFORM_KEY, ISSUER_KEY = SM2PrivateKey.generate(), SM2PrivateKey.generate()
PLATFORMCODE = "P-0001"


def channel(appkey: str = "AK-1", **profile: Any) -> TenderChannel:
    """A channel as the platform and the institution both hold it (one appkey, one appsecret)."""
    return TenderChannel(
        appkey=appkey,
        appsecret=f"secret-of-{appkey}",
        own_key=ISSUER_KEY,
        peer_key=PLATFORM_KEY.public_key,
        profile=TenderProfile(platformcode=PLATFORMCODE, **profile),
    )


@dataclass
class Recorder:
    """A minimal endpoint: channels by appkey, answers recorded by (appkey, interface, key)."""

    channels: dict[str, TenderChannel] = field(default_factory=dict)
    handled: list[Inbound] = field(default_factory=list)
    answers: dict[tuple[str, str, str], tuple[str, Answer]] = field(default_factory=dict)
    calls: int = 0  # every call of handle, a replay it answered included
    is_paused: bool = False
    fail_with: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def channel(self, appkey: str) -> TenderChannel | None:
        return self.channels.get(appkey)

    def paused(self) -> bool:
        return self.is_paused

    def replayed(self, appkey: str, interface: str, key: str, fingerprint: str) -> Answer | None:
        prior = self.answers.get((appkey, interface, key))
        if prior is None:
            return None
        if prior[0] != fingerprint:
            raise TenderError(f"{'/'.join(INTERFACES[interface].key)}: already used for a different request")
        return prior[1]

    def handle(self, request: Inbound) -> Answer:
        with self.lock:
            self.calls += 1
            prior = self.replayed(request.appkey, request.interface, request.key, request.fingerprint)
            if prior is not None:
                return prior
            if self.fail_with is not None:
                raise self.fail_with
            self.handled.append(request)
            data: dict[str, str] = {}
            if request.interface == "baohanapply":
                data = {"redirecturl": f"https://bank.example/open/{request.key}"}
            elif request.interface == "downloadpublickey":
                data = {"publickey": PLATFORM_KEY.public_key.to_hex()}
            answer = Answer(data=data)
            self.answers[(request.appkey, request.interface, request.key)] = (request.fingerprint, answer)
            return answer


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("not found", status_code=404)(scope, receive, send)


@dataclass
class Served:
    """The served roles: ``issuer_url``/``platform_url`` are the prefixes to call interfaces under."""

    issuer: Recorder
    platform: Recorder
    base: str

    @property
    def issuer_url(self) -> str:
        return f"{self.base}/issuer/tender"

    @property
    def platform_url(self) -> str:
        return f"{self.base}/platform/tender"

    def url_of(self, interface: str) -> str:
        return self.issuer_url if interface in ISSUER_SERVES else self.platform_url

    def recorder_of(self, interface: str) -> Recorder:
        return self.issuer if interface in ISSUER_SERVES else self.platform


@contextmanager
def serving(*channels: TenderChannel) -> Iterator[Served]:
    """Both roles served on a free loopback port until the block ends."""
    issuer = Recorder({c.appkey: c for c in channels})
    platform = Recorder({c.appkey: c for c in channels})
    front = ProtocolFront(
        _not_found,
        [
            TenderWire(issuer, ISSUER_SERVES, prefix="/issuer/tender"),
            TenderWire(platform, PLATFORM_SERVES, prefix="/platform/tender"),
        ],
    )
    server = BackgroundServer(front, free_port(), lifespan="off")
    try:
        yield Served(issuer, platform, server.url)
    finally:
        server.stop()


def now_text() -> str:
    return format_timestamp(datetime.now(UTC))


def valid_fields(interface: str, applyno: str = "A-0001") -> dict[str, Any]:
    """Every field of ``interface`` but appkey, timestamp and sign, valid (optional ones included)."""
    code = {"platformcode": PLATFORMCODE}
    base = {"applyno": applyno, "baohanno": f"G-{applyno}"}
    samples: dict[str, dict[str, Any]] = {
        "baohanapply": {
            **code,
            "applyno": applyno,
            "applydata": "c2VhbGVk",
            "digitalenvelope": "ZW52ZWxvcGU=",
        },
        "baohannotice": {
            **base,
            "payername": "某建设有限公司",
            "payeraccount": "6222000011112222",
            "instname": "某担保有限公司",
            "generatetime": "2026-11-30 10:00:00",
            "rate": "0.005",
            "cost": "500.00",
            "applystatus": "1",
        },
        "downloadpublickey": {"applyno": applyno, "bak1": "x", "bak2": "y"},
        "uploadbaohanfile": {**base, "baohanfile": "AAECAwQFBgcICQoLDA0ODw==", "filetype": "1", "index": "1"},
        "baohanfilecompletenotice": {
            **base,
            "key": "a2V5",
            "iv": "aXY=",
            "baohanfilemd5": "d41d8cd98f00b204e9800998ecf8427e",
            "filetype": "1",
        },
        "baohanrestore": {**code, **base, "kaibiaotime": "2026-11-30 09:00:00", "key": "00" * 16},
        "invoiceapply": {
            **code,
            **base,
            "biddername": "某建设有限公司",
            "biddercode": "91310000MA1FL0000X",
            "amount": "500.00",
            "type": "1",
            "address": "上海市某路1号",
            "phone": "021-12345678",
            "bank": "某银行上海分行",
            "account": "6222000011112222",
            "email": "finance@example.com",
            "mobile": "13800000000",
            "contactname": "张三",
            "contactaddress": "上海市某路1号",
        },
        "invoicenotice": {
            "baohanno": f"G-{applyno}",
            "invoiceurl": "https://bank.example/invoice/1.pdf",
            "invoicecode": "031001900111",
            "invoiceno": "12345678",
            "applystatus": "1",
        },
        "quitapply": {**code, **base, "reason": "项目终止"},
        "quitnotice": {**base, "applystatus": "1", "tuibaotime": "2026-11-30 11:00:00"},
        "canclenotice": {**code, **base},
        "claimsnotice": {
            **code,
            **base,
            "payeraccount": "6222000033334444",
            "payeramount": "10000.00",
            "applyusername": "李四",
            "applyuserphone": "13900000000",
            "reason": "中标后拒签合同",
            "filelist": '[{"fileurl":"https://platform.example/f/1.pdf"}]',
        },
        "giveupapply": {**code, "applyno": applyno},
        "giveupnotice": {"applyno": applyno},
    }
    return samples[interface]


def post_raw(url: str, body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    """Post ``body`` as is and return the decoded answer."""
    reply = httpx.post(url, content=body, headers={"content-type": content_type}, timeout=10)
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer
