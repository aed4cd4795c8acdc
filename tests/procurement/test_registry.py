"""The registry per protocol: listings never mix protocols, changes reach every process within a second
without a restart, operators list/deactivate/rotate by CLI and admin API, pauses are per protocol role.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, make_session_factory
from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.client import ProcurementClient
from baohan.services.procurement.registry import Registry as ProcurementRegistry
from baohan.services.registry import Credentials, Registry
from baohan.services.switches import Switches
from tests.procurement.harness import (
    APPID,
    PASSPHRASE,
    Pair,
    application_fields,
    register_platform,
    running_pair,
    wait_for,
)

BOX = SecretBox(PASSPHRASE)


def two_processes(db_url: str) -> tuple[ProcurementRegistry, ProcurementRegistry]:
    """Two registries on one database, each with its own caches, as two server processes have."""
    registries = []
    for _ in range(2):
        sessions = make_session_factory(make_engine(db_url))
        registries.append(ProcurementRegistry(sessions, BOX, Switches(sessions, ttl=0.2)))
    return registries[0], registries[1]


def test_a_rotated_secret_and_a_deactivation_reach_another_process_without_a_restart(db_url: str) -> None:
    here, there = two_processes(db_url)
    peer_id = register_platform(here)
    assert there.peer_by_appid("BANK0001").channel.appsecret == "secret-1"  # type: ignore[union-attr]  # cached there now

    here.rotate(peer_id, appsecret="secret-2")
    wait_for(
        lambda: there.peer_by_appid("BANK0001").channel.appsecret == "secret-2", "the new secret there", 5
    )  # type: ignore[union-attr]
    new_key = SM2PrivateKey.generate().public_key
    here.rotate(peer_id, public_key=new_key)
    wait_for(lambda: there.peer(peer_id).channel.peer_key == new_key, "the new key there", 5)

    here.set_active(peer_id, False)
    wait_for(lambda: there.peer_by_appid("BANK0001") is None, "the deactivation there", 5)
    with pytest.raises(KeyError):
        there.peer(peer_id)
    here.set_active(peer_id, True)
    wait_for(lambda: there.peer_by_appid("BANK0001") is not None, "the reactivation there", 5)


def test_a_listing_never_mixes_protocols(db_url: str) -> None:
    sessions = make_session_factory(make_engine(db_url))
    procurement = ProcurementRegistry(sessions, BOX)
    tender: Registry[Credentials] = Registry(sessions, BOX, protocol="tender", channel=lambda c: c)
    procurement_id = register_platform(procurement)
    tender_id = tender.add_counterparty(
        name="交易中心",
        role="platform",
        appid="TENDER-PLATFORM-01",
        appkey="k" * 50,  # tender's appkey is up to 50 characters
        appsecret="s",
        public_key=SM2PrivateKey.generate().public_key,
    ).id
    # The same appid may serve in both protocols.
    twin = tender.add_counterparty(
        name="twin",
        role="platform",
        appid="BANK0001",
        appkey="k",
        appsecret="s",
        public_key=SM2PrivateKey.generate().public_key,
    )
    assert [c.id for c in procurement.listing()] == [procurement_id]
    assert [c.id for c in tender.listing()] == [tender_id, twin.id]
    assert [p.id for p in procurement.peers()] == [procurement_id]
    assert procurement.peer_by_appid("BANK0001").id == procurement_id  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        procurement.peer(tender_id)
    with pytest.raises(LookupError):
        procurement.set_active(tender_id, False)


# Procurement's appid is §9.2.1's 32 (our receiver refuses longer, issue 15); the appkey has no table limit.
@pytest.mark.parametrize(("field", "limit"), [("appid", 32), ("appkey", 64)])
def test_identifiers_over_the_protocols_limit_are_refused(db_url: str, field: str, limit: int) -> None:
    registry = ProcurementRegistry(make_session_factory(make_engine(db_url)), BOX)
    registry.add_identity("default", SM2PrivateKey.generate())
    for bad in ("x" * (limit + 1), "x\0y"):
        values = {"appid": "A", "appkey": "k", field: bad}
        with pytest.raises(ValueError, match=f"{field} must be 1 to {limit} characters"):
            registry.add_counterparty(
                name="p",
                role="platform",
                appsecret="s",
                public_key=SM2PrivateKey.generate().public_key,
                **values,
            )
    values = {"appid": "A", "appkey": "k", field: "x" * limit}
    peer = registry.add_counterparty(
        name="p", role="platform", appsecret="s", public_key=SM2PrivateKey.generate().public_key, **values
    )
    assert peer.channel.appid == values["appid"]


def test_a_rotation_needs_something_to_rotate(db_url: str) -> None:
    registry = ProcurementRegistry(make_session_factory(make_engine(db_url)), BOX)
    peer_id = register_platform(registry)
    with pytest.raises(ValueError, match="give a new appsecret"):
        registry.rotate(peer_id)
    with pytest.raises(LookupError, match="no procurement counterparty nope"):
        registry.rotate("nope", appsecret="x")


def test_a_pause_holds_one_protocol_role_only(db_url: str) -> None:
    sessions = make_session_factory(make_engine(db_url))
    here, there = Switches(sessions, ttl=0.1), Switches(sessions, ttl=0.1)
    assert not there.paused("procurement", "issuer")
    here.pause("procurement", "issuer", True)
    assert here.paused("procurement", "issuer")
    wait_for(lambda: there.paused("procurement", "issuer"), "the pause in another process", 5)
    assert not there.paused("procurement", "platform") and not there.paused("tender", "issuer")


def test_the_old_pause_switch_pauses_both_procurement_roles_after_the_migration(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0009")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO switches (name, value) VALUES ('paused', 'on')"))
        migrate.upgrade(empty_db_url)
        switches = Switches(make_session_factory(engine))
        assert switches.paused("procurement", "issuer") and switches.paused("procurement", "platform")
        assert switches.get("paused") is None
    finally:
        engine.dispose()


# -- operators, over the admin API and the CLI, against running servers ----------------------------------


@pytest.fixture
def pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    with running_pair(*db_pair) as running:
        yield running


def post_application(pair: Pair, application_id: str, appsecret: str = "appsecret-of-bank-0001") -> Any:
    channel = pair.platform.registry.peer(pair.institution_id).channel
    from dataclasses import replace

    with ProcurementClient(pair.issuer_endpoint, replace(channel, appsecret=appsecret)) as client:
        return client.send("ELY101", application_fields(application_id))


def test_operators_deactivate_and_rotate_a_platform_while_the_issuer_runs(pair: Pair) -> None:
    [platform] = pair.issuer_admin.get("/admin/counterparties").json()["items"]
    assert platform["appid"] == APPID and platform["active"] is True and "appsecret" not in str(platform)
    assert post_application(pair, "OPS-1").code.value == "000"

    assert (
        pair.issuer_admin.post(f"/admin/counterparties/{platform['id']}/deactivate").json()["active"] is False
    )
    refused = post_application(pair, "OPS-2")
    assert (refused.code.value, refused.message) == (
        "101",
        f"数据接收失败, 数据验签未通过: appid: {APPID} is not registered",
    )

    assert pair.issuer_admin.post(f"/admin/counterparties/{platform['id']}/activate").status_code == 200
    rotated = pair.issuer_admin.post(
        f"/admin/counterparties/{platform['id']}/rotate", json={"appsecret": "rotated-secret-1"}
    )
    assert rotated.status_code == 200
    assert post_application(pair, "OPS-3").code.value == "101"  # the old secret signs no more
    assert post_application(pair, "OPS-4", appsecret="rotated-secret-1").code.value == "000"

    assert pair.issuer_admin.post("/admin/counterparties/nope/deactivate").status_code == 404
    bad = pair.issuer_admin.post(
        f"/admin/counterparties/{platform['id']}/rotate", json={"public_key": "04zz"}
    )
    assert bad.status_code == 422 and "public_key" in bad.text
    assert (
        pair.issuer_admin.post(f"/admin/counterparties/{platform['id']}/rotate", json={}).status_code == 422
    )


def baohan(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BAOHAN_KEY_PASSPHRASE": PASSPHRASE, "BAOHAN_DB": db}
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_the_cli_lists_deactivates_and_rotates(pair: Pair, db_pair: tuple[str, str]) -> None:
    issuer_db = db_pair[0]
    listed = baohan("counterparties", "list", db=issuer_db)
    assert listed.returncode == 0, listed.stderr
    [platform] = json.loads(listed.stdout)
    assert platform["appid"] == APPID
    done = baohan("counterparties", "deactivate", platform["id"], db=issuer_db)
    assert done.returncode == 0 and json.loads(done.stdout)["active"] is False
    # The running issuer notices within a second: no restart.
    wait_for(lambda: post_application(pair, f"CLI-{time.monotonic_ns()}").code.value == "101", "refused", 10)
    assert baohan("counterparties", "activate", platform["id"], db=issuer_db).returncode == 0
    assert (
        baohan(
            "counterparties", "rotate", platform["id"], "--appsecret", "cli-rotated", db=issuer_db
        ).returncode
        == 0
    )
    wait_for(
        lambda: post_application(pair, f"CLI-{time.monotonic_ns()}", "cli-rotated").code.value == "000",
        "the new secret",
        10,
    )

    for args, message in (
        (("deactivate", "nope"), "error: no procurement counterparty nope"),
        (("rotate", platform["id"]), "error: give a new appsecret, public key or appkey to rotate"),
        (("rotate", platform["id"], "--public-key", "04zz"), "error: "),
        (
            ("list", "--protocol", "procurment"),
            "error: --protocol 'procurment' is not one of: procurement, tender",
        ),
    ):
        failed = baohan("counterparties", *args, db=issuer_db)
        assert failed.returncode == 2 and failed.stderr.startswith(message), (args, failed.stderr)
        assert "Traceback" not in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
