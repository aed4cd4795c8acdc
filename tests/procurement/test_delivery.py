"""Delivery over real HTTP: one platform that never answers does not hold up the notices to another."""

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
from tests.procurement.harness import ADMIN, FAST, PASSPHRASE, application_fields, wait_for

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
