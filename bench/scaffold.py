"""What the multi-process benchmarks share: a throwaway PostgreSQL, an issuer with a registered platform,
a recording receiver and a load generator in processes of their own, and `baohan` commands.

    python bench/scaffold.py receiver   < config.json   (a NoticeRecorder served by uvicorn)
    python bench/scaffold.py load URL CONCURRENCY FILE  (POSTs FILE's bodies, prints a JSON summary)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.db.postgres: the throwaway cluster of the test suite

import httpx  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from baohan.adapters.keystore import SecretBox  # noqa: E402
from baohan.adapters.outbox import OutboxMessage, OutboxStatus  # noqa: E402
from baohan.gm import SM2PrivateKey, SM2PublicKey  # noqa: E402
from baohan.protocols.procurement.envelope import Channel  # noqa: E402
from baohan.services.procurement.pairing import AppCredentials, issuer_side  # noqa: E402
from baohan.services.procurement.runtime import RoleRuntime, open_runtime  # noqa: E402

PASSPHRASE = "benchmark passphrase"
TOKEN = "benchmark-admin-token-0001"
APPID, APPKEY, APPSECRET = "BENCH001", "bench-appkey", "bench-appsecret-0001"
PREFIX = "/zcdservice/v1/lg/ELYApi"
ENV = {
    **os.environ,
    "BAOHAN_KEY_PASSPHRASE": PASSPHRASE,
    "BAOHAN_ADMIN_TOKEN": TOKEN,
    "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
}


@contextmanager
def database(url: str | None) -> Iterator[tuple[str, int | None]]:
    """``url``, or a fresh database on a throwaway PostgreSQL cluster started (and removed) here, with the
    pid of that cluster's postmaster (None for ``url``)."""
    if url is not None:
        yield url, None
        return
    from tests.db.postgres import start_cluster

    cluster = start_cluster()
    try:
        postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
        yield cluster.url(cluster.create_database("bench")), postmaster
    finally:
        cluster.stop()


def cpu_seconds(pid: int | None, *, tree: bool = False) -> float:
    """CPU time of process ``pid`` so far; with ``tree``, its children's too (the reaped and the live)."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    total = sum(int(x) for x in fields[11 : 13 + (2 if tree else 0)]) / tick
    if tree:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    return total


@dataclass
class Issuer:
    """An issuer database with its key and one platform; ``sender`` is that platform's channel to us,
    ``receiving`` ours to it."""

    db: str
    runtime: RoleRuntime
    sender: Channel
    receiving: Channel
    receiver_config: dict[str, Any]
    queries: int = 0  # our own transactions, for commits() to leave out

    def delivered(self) -> int:
        """Notices recorded as delivered."""
        self.queries += 1
        with self.runtime.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == OutboxStatus.DELIVERED)
                )
                or 0
            )

    def commits(self) -> int:
        """Transactions committed in this PostgreSQL database so far, ours left out."""
        self.queries += 1
        with self.runtime.sessions() as session:
            total = session.scalar(
                text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            )
        return int(total or 0) - self.queries


def issuer(db: str, receiver_port: int) -> Issuer:
    """Migrate ``db``, store the issuer's key and register a platform whose endpoint is the receiver."""
    runtime = open_runtime("issuer", db, SecretBox(PASSPHRASE))
    side = issuer_side(
        runtime.registry,
        platform_url=f"http://127.0.0.1:{receiver_port}{PREFIX}",
        credentials=AppCredentials(APPID, APPKEY, APPSECRET),
        ca_name="Bench CA",
    )
    config = {
        "port": receiver_port,
        "private_key": side.platform_key.to_hex(),
        "peer_public_key": side.issuer.key.public_key.to_hex(),
    }
    return Issuer(db, runtime, side.platform_channel(), side.issuer_channel(), config)


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Wait until GET ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answered {url} within {timeout:.0f} s")


@dataclass
class Receiver:
    """The recording receiver's process."""

    url: str
    pid: int


@contextmanager
def receiver(config: dict[str, Any]) -> Iterator[Receiver]:
    """A recording receiver in a process of its own."""
    proc = subprocess.Popen([sys.executable, __file__, "receiver"], stdin=subprocess.PIPE, env=ENV, text=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config))
    proc.stdin.close()
    url = f"http://127.0.0.1:{config['port']}"
    try:
        wait_http(f"{url}/count")
        yield Receiver(url, proc.pid)
    finally:
        stop(proc)


def baohan(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """A `baohan` command in a process of its own."""
    return subprocess.Popen([sys.executable, "-m", "baohan.cli.main", *args], env=ENV, text=True, **popen)


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM and wait."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_delivered(issuer: Issuer, total: int, timeout: float = 600.0) -> float:
    """Poll until ``total`` notices are delivered; the time.monotonic() when they were."""
    deadline = time.monotonic() + timeout
    while (done := issuer.delivered()) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {done} of {total} notices delivered after {timeout:.0f} s")
        time.sleep(0.02)
    return time.monotonic()


# -- the processes ------------------------------------------------------------------------------------------


def _serve_receiver() -> None:
    import uvicorn

    from baohan.web.receiver import NoticeRecorder, receiver_app

    config = json.loads(sys.stdin.read())
    channel = Channel(
        APPID,
        APPKEY,
        APPSECRET,
        SM2PrivateKey.load(config["private_key"]),
        SM2PublicKey.load(config["peer_public_key"]),
    )
    recorder = NoticeRecorder(channel)
    app = receiver_app(recorder, frozenset({"ELY102", "ELY106", "ELY108"}))

    @app.app.get("/count")  # the FastAPI app behind the protocol front
    def count() -> int:
        return len(recorder.received)

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(config["port"]),
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )


async def _load(url: str, concurrency: int, bodies: list[bytes]) -> dict[str, Any]:
    """POST every body over ``concurrency`` kept-alive connections with the least client work (raw HTTP/1.1)."""
    parsed = httpx.URL(url)
    pending = iter(bodies)
    failures: list[str] = []

    async def client() -> int:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        sent = 0
        for body in pending:
            writer.write(
                b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (parsed.raw_path, parsed.host.encode(), len(body))
                + body
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answer = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or b'"code":"000"' not in answer.replace(b" ", b""):
                failures.append(answer[:200].decode(errors="replace"))
            sent += 1
        writer.close()
        return sent

    began_wall, began = time.time(), time.perf_counter()
    counts = await asyncio.gather(*(client() for _ in range(concurrency)))
    return {
        "answered": sum(counts),
        "seconds": time.perf_counter() - began,
        "began_wall": began_wall,
        "failures": failures[:3],
        "failed": len(failures),
    }


def _run_load(url: str, concurrency: int, path: str) -> None:
    import uvloop

    bodies = [line.encode() for line in Path(path).read_text().splitlines() if line]
    print(json.dumps(uvloop.run(_load(url, concurrency, bodies))), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["receiver"]:
        _serve_receiver()
    elif sys.argv[1:2] == ["load"]:
        _run_load(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        raise SystemExit(__doc__)
