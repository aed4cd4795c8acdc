"""One runtime hosts several protocol roles on one database with one dispatcher, behind one server.

The second protocol is not built yet, so both procurement roles stand in: the issuer and the platform
run in one process on one database, each at its own path and admin prefix, and talk to each other over
real HTTP. What one role pauses, the other does not.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.services import runtime as shared
from baohan.services.procurement.issuer import IssuerSettings
from baohan.services.procurement.runtime import DEFAULT_RULES, RoleRuntime, build_issuer, build_platform
from baohan.web import procurement as web
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from tests.procurement.harness import ADMIN, FAST, PASSPHRASE, application_fields, wait_for


@pytest.fixture
def hosted(db_url: str) -> Iterator[tuple[shared.Runtime, httpx.Client]]:
    runtime = shared.open_runtime(
        db_url,
        SecretBox(PASSPHRASE),
        [(build_issuer, IssuerSettings("示范担保有限公司", DEFAULT_RULES)), (build_platform, None)],
        shared.RuntimeSettings(policy=FAST, timeout=5),
    )
    issuer = RoleRuntime(runtime, runtime.role("procurement", "issuer"))
    platform = RoleRuntime(runtime, runtime.role("procurement", "platform"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    issuer_key, platform_key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    issuer.registry.add_identity("default", issuer_key)
    platform.registry.add_identity("platform", platform_key)
    common = {"appid": "BANK0001", "appkey": "appkey-0001", "appsecret": "appsecret-of-bank-0001"}
    issuer.registry.add_counterparty(
        name="平台",
        role="platform",
        public_key=platform_key.public_key,
        endpoint_url=f"{base}/platform/zcdservice/v1/lg/ELYApi",
        **common,
    )
    platform.registry.add_counterparty(
        name="机构",
        role="institution",
        public_key=issuer_key.public_key,
        own_key_name="platform",
        endpoint_url=f"{base}/zcdservice/v1/lg/ELYApi",
        **common,
    )
    mounts = [
        web.mount(issuer, admin_prefix="/admin/issuer"),
        web.mount(platform, prefix="/platform/zcdservice/v1/lg", admin_prefix="/admin/platform"),
    ]
    server = BackgroundServer(host_app(runtime, mounts, admin_token=ADMIN), port)
    admin = httpx.Client(base_url=server.admin_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)
    try:
        yield runtime, admin
    finally:
        admin.close()
        server.stop()


def test_two_roles_in_one_process_on_one_database_talk_through_one_dispatcher(
    hosted: tuple[shared.Runtime, httpx.Client],
) -> None:
    runtime, admin = hosted
    assert admin.get("/health").json()["roles"] == ["procurement:issuer", "procurement:platform"]
    [institution] = admin.get("/admin/platform/counterparties").json()
    [platform] = admin.get("/admin/issuer/counterparties").json()  # each role lists its own counterparties
    assert (institution["role"], platform["role"]) == ("institution", "platform")

    submitted = admin.post(
        "/admin/platform/applications",
        json={"institution_id": institution["id"], "fields": application_fields("HOST-1")},
    )
    assert submitted.status_code == 202, submitted.text
    # ELY101 to the issuer's path, its ELY102 back to the platform's: both through this one runtime's outbox.
    wait_for(
        lambda: admin.get("/admin/platform/applications/HOST-1").json().get("stage") == "approved", "approved"
    )
    assert admin.get("/admin/issuer/applications/HOST-1").json()["stage"] == "approved"
    wait_for(lambda: runtime.pending() == 0, "the one outbox drained")

    assert admin.post("/admin/issuer/pause", json={"paused": True}).status_code == 200
    assert runtime.ground.switches.paused("procurement", "issuer")
    assert not runtime.ground.switches.paused("procurement", "platform")


def test_a_role_hosted_twice_or_not_at_all_is_refused(db_url: str) -> None:
    settings = IssuerSettings("x", DEFAULT_RULES)
    with pytest.raises(ValueError, match="procurement:issuer is hosted twice"):
        shared.open_runtime(
            db_url, SecretBox(PASSPHRASE), [(build_issuer, settings), (build_issuer, settings)]
        )
    with pytest.raises(ValueError, match="at least one protocol role"):
        shared.open_runtime(db_url, SecretBox(PASSPHRASE), [])
