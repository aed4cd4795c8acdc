"""Delivery over real HTTP: a hung platform does not hold up the notices to another; a refusal no retry can
change is a dead letter at once, holds the application's later notices, and an operator's retry releases them
in order."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel
from baohan.services.procurement.runtime import open_runtime
from baohan.web.procurement import create_app
from baohan.web.receiver import NoticeRecorder, receiver_app
from baohan.web.serving import BackgroundServer, free_port
from tests.procurement.harness import (
    ADMIN,
    FAST,
    PASSPHRASE,
    Pair,
    application_fields,
    running_pair,
    wait_for,
)
from tests.procurement.test_lifecycle import submit

NOTICES = frozenset({"ELY102", "ELY106", "ELY108"})


class Silent:
    """A TCP server that accepts connections, reads what comes, and never answers: a hung counterparty."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self._stop = True
        for conn in self.connections:
            conn.close()
        self.sock.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def test_a_hung_platform_does_not_delay_the_notices_to_another(tmp_path: Path, silent: Silent) -> None:
    issuer_key = SM2PrivateKey.generate()
    runtime = open_runtime(
        "issuer",
        f"sqlite:///{tmp_path}/issuer.db",
        SecretBox(PASSPHRASE),
        policy=FAST,
        lease=timedelta(minutes=1),
        timeout=30,  # the hung platform holds each delivery thread this long
        delivery_concurrency=8,
    )
    runtime.registry.add_identity("default", issuer_key)
    issuer = BackgroundServer(create_app(runtime, admin_token=ADMIN), free_port())
    platforms = {}
    receiver_server = None
    try:
        for appid in ("HUNG0001", "GOOD0001"):
            key = SM2PrivateKey.generate()
            channel = Channel(appid, f"key-{appid}", f"secret-of-{appid}", key, issuer_key.public_key)
            platforms[appid] = channel
            if appid == "GOOD0001":
                recorder = NoticeRecorder(channel)
                receiver_server = BackgroundServer(receiver_app(recorder, NOTICES), free_port())
                url = f"{receiver_server.url}/zcdservice/v1/lg/ELYApi"
            else:
                url = f"http://127.0.0.1:{silent.port}/zcdservice/v1/lg/ELYApi"
            runtime.registry.add_counterparty(
                name=appid,
                role="platform",
                appid=appid,
                appkey=channel.appkey,
                appsecret=channel.appsecret,
                public_key=key.public_key,
                endpoint_url=url,
            )
        runtime.start(idle_sleep=0.05)
        endpoint = f"{issuer.url}/zcdservice/v1/lg/ELYApi"
        with ProcurementClient(endpoint, platforms["HUNG0001"]) as hung:
            for n in range(12):
                assert hung.send("ELY101", application_fields(f"HUNG-{n}")).ok
        wait_for(lambda: len(silent.connections) >= 4, "deliveries stuck at the hung platform")
        started = time.monotonic()
        with ProcurementClient(endpoint, platforms["GOOD0001"]) as good:
            for n in range(10):
                assert good.send("ELY101", application_fields(f"GOOD-{n}")).ok
        wait_for(lambda: len(recorder.received) >= 10, "the good platform's notices", timeout=10)
        elapsed = time.monotonic() - started
        assert elapsed < 5, f"the good platform waited {elapsed:.1f} s behind the hung one"
        assert {r["data"]["applicationId"] for r in recorder.received} == {f"GOOD-{n}" for n in range(10)}
        assert runtime.pending() >= 12  # the hung platform's notices are still waiting, none lost
    finally:
        silent.close()
        runtime.stop()
        issuer.stop()
        if receiver_server is not None:
            receiver_server.stop()


@pytest.fixture
def pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    with running_pair(*db_pair) as running:
        yield running


def test_a_refused_notice_is_dead_at_once_holds_the_next_and_an_operator_retries_it(pair: Pair) -> None:
    """The platform stops knowing the institution: ELY102 is answered 101, which no retry changes."""
    [institution] = pair.platform_admin.get("/admin/counterparties").json()["items"]
    submit(pair, "DEAD-1", performanceBond="6000000.00")  # manual review: the issuer holds the notices
    wait_for(lambda: pair.issuer_app("DEAD-1").get("stage") == "review", "in review")
    before = pair.platform_app("DEAD-1")["stage"]
    pair.platform_admin.post(f"/admin/counterparties/{institution['id']}/deactivate")
    assert pair.issuer_admin.post("/admin/applications/DEAD-1/approve").status_code == 200

    dead = wait_for(lambda: pair.issuer_admin.get("/admin/outbox/dead").json()["items"], "a dead letter")
    assert [(d["kind"], d["attempts"]) for d in dead] == [("ELY102", 1)]  # not retried for days
    assert "answered 101" in dead[0]["last_error"] and "is not registered" in dead[0]["last_error"]

    premium = pair.issuer_app("DEAD-1")["premium"]
    paid = pair.issuer_admin.post(
        "/admin/applications/DEAD-1/payments",
        json={"amount": premium, "paid_at": "2026-11-23T10:00:00+08:00", "pay_type": "01"},
    )
    assert paid.status_code == 200
    time.sleep(1.0)
    assert pair.platform_app("DEAD-1")["stage"] == before  # 05 and 03 wait behind the dead 01
    assert pair.issuer.pending() >= 2

    pair.platform_admin.post(f"/admin/counterparties/{institution['id']}/activate")
    assert pair.issuer_admin.post(f"/admin/outbox/{dead[0]['id']}/retry").json() == {"retried": dead[0]["id"]}
    wait_for(lambda: pair.platform_app("DEAD-1").get("stage") == "issued", "01, 05, 03 in order")
    events = [
        e["event"] for e in pair.platform_admin.get("/admin/applications/DEAD-1/history").json()["items"]
    ]
    assert events.index("approve") < events.index("pay") < events.index("issue")
    assert pair.issuer_admin.get("/admin/outbox/dead").json()["items"] == []
    assert pair.issuer_admin.post(f"/admin/outbox/{dead[0]['id']}/retry").status_code == 409  # not dead now
    assert pair.issuer_admin.post("/admin/outbox/nope/retry").status_code == 404


def test_an_http_4xx_is_permanent_and_a_refused_connection_is_not(pair: Pair) -> None:
    import httpx

    from baohan.adapters.outbox import PermanentFailure
    from baohan.protocols.procurement.client import TransportError
    from baohan.services.procurement.delivery import Sender

    registry = pair.issuer.registry
    [platform] = registry.peers()
    payload = {"applicationId": "X-1", "applicationStatus": "01"}
    with httpx.Client(timeout=5) as http:
        sender = Sender(registry, http)
        from dataclasses import replace

        lost = replace(platform, endpoint_url=f"{pair.platform_server.url}/no/such/path")
        with pytest.raises(PermanentFailure, match="HTTP 404"):
            sender.send(sender.client(lost), "ELY102", payload, "a" * 32)
        closed = replace(platform, endpoint_url=f"http://127.0.0.1:{free_port()}/zcdservice/v1/lg/ELYApi")
        with pytest.raises(TransportError):
            sender.send(sender.client(closed), "ELY102", payload, "b" * 32)
