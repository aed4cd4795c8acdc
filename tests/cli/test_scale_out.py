"""Scaling out on PostgreSQL: `baohan serve --workers N` on one port, `baohan dispatch` beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.client import ProcurementClient
from baohan.services.procurement.pairing import AppCredentials, issuer_side
from baohan.services.procurement.runtime import open_runtime
from baohan.web.receiver import NoticeRecorder, receiver_app
from baohan.web.serving import BackgroundServer
from tests.db.postgres import PostgresCluster
from tests.procurement.harness import application_fields, free_port, wait_for

PASSPHRASE = "scale out passphrase"
TOKEN = "scale-out-admin-token-0001"
ENV = {**os.environ, "BAOHAN_KEY_PASSPHRASE": PASSPHRASE, "BAOHAN_ADMIN_TOKEN": TOKEN}
APPID, APPKEY, APPSECRET = "SCALE001", "scale-appkey", "scale-appsecret-0001"
PREFIX = "/zcdservice/v1/lg/ELYApi"


def baohan(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )


def start(*args: str, log: IO[str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "baohan.cli.main", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=log or subprocess.PIPE,
        text=True,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def pg_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (the commands migrate it)."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


@pytest.fixture
def issuer(pg_url: str) -> Iterator[dict[str, Any]]:
    """An issuer database with its key and one platform whose notices a recording receiver takes."""
    receiver_port = free_port()
    runtime = open_runtime("issuer", pg_url, SecretBox(PASSPHRASE))
    side = issuer_side(
        runtime.registry,
        platform_url=f"http://127.0.0.1:{receiver_port}{PREFIX}",
        credentials=AppCredentials(APPID, APPKEY, APPSECRET),
        ca_name="Scale CA",
    )
    recorder = NoticeRecorder(side.platform_channel())
    receiver = BackgroundServer(receiver_app(recorder, frozenset({"ELY102"})), receiver_port)
    runtime.stop()
    yield {
        "db": pg_url,
        "recorder": recorder,
        "channel": side.platform_channel(),
    }
    receiver.stop()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found |= {int(child), *_children(int(child))}
    return found


def _sockets_on(port: int, state: str) -> set[str]:
    """Inodes of the loopback TCP sockets whose local port is ``port``, in ``state`` (0A listen, 01 open)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == state:
                inodes.add(cols[9])
    return inodes


def _holders(pids: set[int], inodes: set[str]) -> set[int]:
    """Which of ``pids`` hold one of the sockets ``inodes``."""
    holding = set()
    for pid in pids:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:  # gone meanwhile
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            holding.add(pid)
    return holding


def _health(port: int) -> dict[str, Any] | None:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.HTTPError:
        return None
    return reply.json() if reply.status_code == 200 else None  # type: ignore[no-any-return]


def _pending(admin_port: int) -> int | None:
    """The outbox backlog, as the admin listener's /ready shows it."""
    try:
        reply = httpx.get(f"http://127.0.0.1:{admin_port}/ready", timeout=5)
    except httpx.HTTPError:
        return None
    return reply.json()["outbox"]["pending"]  # type: ignore[no-any-return]


def _delivered(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    assert "baohan_outbox_pending " in text
    for line in text.splitlines():
        if line.startswith("baohan_delivery_attempts_total{") and 'outcome="delivered"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _ely101_answered(admin_port: int) -> float:
    """ELY101 requests answered 000, as one scrape of /metrics (on a fresh connection) counts them."""
    with httpx.Client(timeout=10) as http:  # a new connection may reach either worker
        text = http.get(f"http://127.0.0.1:{admin_port}/metrics").text
    for line in text.splitlines():
        if (
            line.startswith("baohan_requests_total{")
            and 'interface="ELY101"' in line
            and 'code="000"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_two_workers_serve_one_port_and_a_dispatch_process_delivers(
    issuer: dict[str, Any], tmp_path: Path
) -> None:
    db, recorder = issuer["db"], issuer["recorder"]
    port, admin_port = free_port(), free_port()
    log = (tmp_path / "serve.log").open("w+")
    serve = start(
        "serve",
        "procurement",
        "--role",
        "issuer",
        "--db",
        db,
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
        "--workers",
        "2",
        "--no-dispatch",
        log=log,
    )
    dispatch: subprocess.Popen[str] | None = None
    dispatched = ""
    kept: list[httpx.Client] = []
    try:
        workers = wait_for(
            lambda: (
                (_health(port) and len(w := _holders(_children(serve.pid), _sockets_on(port, "0A"))) == 2)
                and w
            ),
            "two worker processes listening on the port",
            timeout=60,
        )
        # Each request on a connection of its own, kept open, until both workers have answered some.
        sent = 0
        answered_by: set[int] = set()
        while answered_by != workers:
            assert sent < 60, f"only {answered_by} of {workers} answered {sent} requests"
            http = httpx.Client(timeout=30)
            kept.append(http)
            answer = ProcurementClient(f"http://127.0.0.1:{port}{PREFIX}", issuer["channel"], http=http).send(
                "ELY101", application_fields(f"SCALE-{sent:04d}")
            )
            assert answer.code == "000", answer
            sent += 1
            answered_by = _holders(workers, _sockets_on(port, "01"))
        # Servers started with --no-dispatch leave the notices in the outbox ...
        assert wait_for(lambda: _pending(admin_port) == sent, "notices queued")
        # Whichever worker answers a scrape counts what both answered (prometheus-client multiprocess mode).
        workers_holding_admin = _holders(workers, _sockets_on(admin_port, "0A"))
        assert workers_holding_admin == workers
        assert {_ely101_answered(admin_port) for _ in range(8)} == {float(sent)}
        assert recorder.received == []
        # ... until a dispatcher process delivers them.
        metrics_port = free_port()
        dispatch = start(
            *("dispatch", "procurement", "--role", "issuer", "--db", db, "--concurrency", "4"),
            *("--metrics-port", str(metrics_port)),
        )
        wait_for(lambda: len(recorder.received) >= sent, f"{sent} notices delivered", timeout=60)
        # The dispatch process counts its deliveries and shows the shared outbox on a /metrics of its own.
        wait_for(lambda: _delivered(metrics_port) == sent, "deliveries counted by the dispatcher")
        assert sorted(
            n["data"]["applicationId"] for n in recorder.received if n["transcode"] == "ELY102"
        ) == [f"SCALE-{i:04d}" for i in range(sent)]
        wait_for(lambda: _pending(admin_port) == 0, "an empty outbox")
        dispatch.send_signal(signal.SIGTERM)
        assert dispatch.wait(timeout=60) == 0
        dispatched = dispatch.stderr.read() if dispatch.stderr else ""
        assert "dispatcher stopped" in dispatched
    finally:
        for http in kept:
            http.close()
        for proc in (dispatch, serve):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=60)
    # Every line the server wrote is one JSON object; each request answered has its own.
    log.seek(0)
    logged = [json.loads(line) for line in log.read().splitlines()]
    log.close()
    answered = [line for line in logged if line.get("interface") == "ELY101"]
    assert len(answered) == sent and {line["code"] for line in answered} == {"000"}
    # Each notice was delivered by the other process under the id of the request that caused it.
    delivered = [json.loads(line) for line in dispatched.splitlines()]
    delivered = [line for line in delivered if line.get("outcome") == "delivered"]
    assert sorted(line["request_id"] for line in delivered) == sorted(line["request_id"] for line in answered)


def test_operator_mistakes_are_one_line_before_any_worker_starts(tmp_path: Path, pg_url: str) -> None:
    serve = ("serve", "procurement", "--role", "issuer", "--port", str(free_port()))
    one_line_error(baohan(*serve, "--db", pg_url, "--workers", "0"), "--workers")
    one_line_error(
        baohan(*serve, "--db", "postgresql://127.0.0.1:1/nowhere", "--workers", "2"), "cannot open"
    )
    one_line_error(baohan(*serve, "--db", "not a url"), "not a url")
    one_line_error(baohan(*serve, "--db", "not a url", "--workers", "2"), "not a url")
    one_line_error(baohan(*serve, "--db", f"sqlite:///{tmp_path}/x.db", "--workers", "2"), "PostgreSQL")
    no_token = {k: v for k, v in ENV.items() if k != "BAOHAN_ADMIN_TOKEN"}
    one_line_error(baohan(*serve, "--db", pg_url, "--workers", "2", env=no_token), "BAOHAN_ADMIN_TOKEN")
    dispatch = ("dispatch", "procurement", "--role", "issuer")
    no_passphrase = {k: v for k, v in ENV.items() if k != "BAOHAN_KEY_PASSPHRASE"}
    one_line_error(baohan(*dispatch, "--db", pg_url, env=no_passphrase), "BAOHAN_KEY_PASSPHRASE")
    one_line_error(baohan(*dispatch, "--db", "postgresql://127.0.0.1:1/nowhere"), "cannot open")
    one_line_error(baohan("dispatch", "procurement", "--role", "bank", "--db", pg_url), "--role")
    one_line_error(baohan(*dispatch, "--db", pg_url, "--concurrency", "0"), "--concurrency")
    # A key stored under one passphrase is not opened by another: refused before serving or dispatching.
    runtime = open_runtime("issuer", pg_url, SecretBox(PASSPHRASE))
    runtime.registry.add_identity("default", SM2PrivateKey.generate())
    runtime.stop()
    wrong = {**ENV, "BAOHAN_KEY_PASSPHRASE": "not the passphrase"}
    one_line_error(baohan(*dispatch, "--db", pg_url, env=wrong), "wrong passphrase")
    one_line_error(baohan(*serve, "--db", pg_url, "--workers", "2", env=wrong), "wrong passphrase")
