"""Two real roles on loopback: an issuer and a platform, each its own database and uvicorn server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import RetryPolicy
from baohan.domain.underwriting import Rules
from baohan.gm import SM2Certificate, SM2PrivateKey
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.router import Inbound, fingerprint
from baohan.protocols.procurement.samples import sample_application
from baohan.services.procurement.pairing import AppCredentials, pair
from baohan.services.procurement.registry import Registry
from baohan.services.procurement.runtime import DEFAULT_RULES, RoleRuntime, open_runtime
from baohan.web.procurement import create_app
from baohan.web.serving import BackgroundServer, free_port

T = TypeVar("T")
PASSPHRASE = "integration test passphrase"
ADMIN = "admin-token-for-tests"
APPID, APPKEY, APPSECRET = "BANK0001", "appkey-0001", "appsecret-of-bank-0001"
FAST = RetryPolicy(
    base=timedelta(milliseconds=50), factor=2, max_delay=timedelta(milliseconds=400), jitter=0.5
)


Server = BackgroundServer


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 20.0) -> T:
    """Poll ``probe`` until it returns something truthy; AssertionError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@dataclass
class Pair:
    """The issuer and platform roles wired to each other, with admin clients."""

    issuer: RoleRuntime
    platform: RoleRuntime
    issuer_server: Server
    platform_server: Server
    issuer_admin: httpx.Client
    platform_admin: httpx.Client
    institution_id: str
    issuer_key: SM2PrivateKey
    platform_key: SM2PrivateKey
    ca: SM2Certificate
    issuer_cert: SM2Certificate

    @property
    def issuer_endpoint(self) -> str:
        return f"{self.issuer_server.url}/zcdservice/v1/lg/ELYApi"

    def restart_platform(self) -> None:
        """Serve the platform again on the same port (after ``platform_server.stop()``)."""
        self.platform_server = Server(
            create_app(self.platform, admin_token=ADMIN),
            self.platform_server.port,
            admin_port=self.platform_server.admin_port,
        )

    def issuer_app(self, key: str) -> dict[str, Any]:
        reply = self.issuer_admin.get(f"/admin/applications/{key}")
        return reply.json() if reply.status_code == 200 else {}  # type: ignore[no-any-return]

    def platform_app(self, key: str) -> dict[str, Any]:
        reply = self.platform_admin.get(f"/admin/applications/{key}")
        return reply.json() if reply.status_code == 200 else {}  # type: ignore[no-any-return]


@contextmanager
def running_pair(issuer_db: str, platform_db: str, *, rules: Rules = DEFAULT_RULES) -> Iterator[Pair]:
    """Start both roles on fresh databases, register each with the other, and tear everything down."""
    box = SecretBox(PASSPHRASE)
    issuer = open_runtime(
        "issuer", issuer_db, box, rules=rules, policy=FAST, lease=timedelta(seconds=5), timeout=5
    )
    platform = open_runtime("platform", platform_db, box, policy=FAST, lease=timedelta(seconds=5), timeout=5)
    issuer_port, platform_port = free_port(), free_port()
    paired = pair(
        issuer.registry,
        platform.registry,
        issuer_url=f"http://127.0.0.1:{issuer_port}/zcdservice/v1/lg/ELYApi",
        platform_url=f"http://127.0.0.1:{platform_port}/zcdservice/v1/lg/ELYApi",
        credentials=AppCredentials(APPID, APPKEY, APPSECRET),
    )
    issuer_server = Server(create_app(issuer, admin_token=ADMIN), issuer_port)
    platform_server = Server(create_app(platform, admin_token=ADMIN), platform_port)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    running = Pair(
        issuer,
        platform,
        issuer_server,
        platform_server,
        httpx.Client(base_url=issuer_server.admin_url, headers=headers, timeout=30),
        httpx.Client(base_url=platform_server.admin_url, headers=headers, timeout=30),
        paired.institution_id,
        paired.issuer.key,
        paired.platform_key,
        paired.issuer.ca,
        paired.issuer.certificate,
    )
    try:
        yield running
    finally:
        running.issuer_admin.close()
        running.platform_admin.close()
        running.platform_server.stop()
        issuer_server.stop()


def application_fields(application_id: str, **overrides: str) -> dict[str, str]:
    """A realistic ELY101 application, by wire names."""
    return sample_application(application_id, **overrides)


def ely105_fields(live: dict[str, Any], **overrides: str) -> dict[str, str]:
    """An ELY105 claim of 1000.00 on the guarantee ``live`` (an application as the admin API shows it)."""
    return {
        "guaranteeId": live["guarantee_id"],
        "bidNum": live["bid_code"],
        "projectName": live["project_name"],
        "projectCode": live["project_code"],
        "companyName": live["supplier_name"],
        "socialCreditCode": live["supplier_code"],
        "purchaseName": live["purchaser_name"],
        "purchaseSocCode": live["purchaser_code"],
        "claimAmount": "1000.00",
        "claimReason": "未履约",
        "openBank": "工商银行",
        "bankAccount": "6222000000000000",
        "contract": "王五",
        "contractWay": "13900139000",
        "contractCertCode": "110101198501011234",
        **overrides,
    }


def register_platform(registry: Registry) -> str:
    """Our identity (no certificate; unless one is set already) and one platform, appid BANK0001; the
    platform's counterparty id."""
    try:
        registry.identity("default")
    except KeyError:
        registry.add_identity("default", SM2PrivateKey.generate())
    return registry.add_counterparty(
        name="p",
        role="platform",
        appid="BANK0001",
        appkey="k",
        appsecret="secret-1",
        public_key=SM2PrivateKey.generate().public_key,
    ).id


def inbound(transcode: str, payload: dict[str, str], msgcode: str) -> Inbound:
    """What the router hands a role for ``payload`` from BANK0001, checked and parsed."""
    return Inbound(
        "BANK0001",
        msgcode,
        transcode,
        datetime.now(UTC),
        fingerprint(transcode, payload),
        payload,
        m.parse_request(transcode, payload),
    )
