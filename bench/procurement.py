"""ELY101 throughput of the issuer against the crypto-only cost of the same messages.

    .venv/bin/python bench/procurement.py [--requests 2000] [--rounds 9] [--db sqlite|URL]
    PYTHONPATH=src .venv/bin/python bench/procurement.py --http --workers 2 [--db postgresql://…]

In-process (the default): frame checks, sign verify, SM2 decrypt, validation, underwriting, persistence
(application, audit trail, outbox notice, replay record) and the answer, driven straight through the ASGI
app. Crypto only: sign verify and SM2 decrypt of the very same requests. The two alternate round by round
for ``--rounds`` rounds (fresh applications each round), and the figure gated on is the median of the
per-round ratios full/crypto: each ratio compares two runs a moment apart, so a noisy host moves both, and
the median ignores the rounds where it moved only one. Required: median ratio ≥ 60%.
Then p50/p99 latency of the same requests over real HTTP on loopback.

``--http``: `baohan serve procurement` with 1 and ``--workers`` server processes (dispatching on) on
PostgreSQL (``--db``, or a throwaway cluster), a recording receiver for the ELY102 notices and a load
generator, each in a process of its own; the requests are built beforehand, so the client's crypto is not
timed. Reports the answered rate, the sustained rate (answered and every notice delivered) and both as
ratios of the crypto-only rate measured in the same run (one thread of this process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from baohan.adapters.keystore import SecretBox
from baohan.protocols.procurement.envelope import (
    check_sign,
    encode_request,
    open_request,
    parse_frame,
)
from baohan.protocols.procurement.samples import sample_application
from baohan.services.procurement.pairing import AppCredentials, issuer_side
from baohan.services.procurement.runtime import open_runtime
from baohan.web.procurement import create_app
from baohan.web.serving import BackgroundServer, free_port

APPID, APPKEY, APPSECRET = "BENCH001", "bench-appkey", "bench-appsecret-0001"


def fields(i: int) -> dict[str, str]:
    return sample_application(f"BENCH-{i:07d}", projectCode=f"ZB-2026-{i:05d}", bidCode=f"ZB-2026-{i:05d}-01")


async def asgi_post(app: Any, path: str, body: bytes) -> dict[str, Any]:
    """One POST straight through the ASGI interface (no HTTP client in the way)."""
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return json.loads(b"".join(chunks))  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--db", default="sqlite", help="sqlite (a temp file) or a database URL")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    parser.add_argument("--http", action="store_true", help="over HTTP against `baohan serve` processes")
    parser.add_argument("--workers", type=int, default=2, help="--http: the most server processes tried")
    args = parser.parse_args()
    if args.http:
        return over_http(args)
    n = args.requests
    workdir = Path(tempfile.mkdtemp(prefix="baohan-bench-"))
    db = f"sqlite:///{workdir}/bench.db" if args.db == "sqlite" else args.db

    box = SecretBox("benchmark passphrase")
    runtime = open_runtime("issuer", db, box)
    side = issuer_side(
        runtime.registry,
        platform_url="http://127.0.0.1:9/unused",
        credentials=AppCredentials(APPID, APPKEY, APPSECRET),
        ca_name="Bench CA",
    )
    sender, receiver = side.platform_channel(), side.issuer_channel()
    app = create_app(runtime, admin_token="bench", run_dispatcher=False).protocol

    rounds = max(1, args.rounds)
    print(f"preparing {(rounds + 1) * n} encrypted ELY101 requests ...", file=sys.stderr)
    wires = [encode_request(sender, "ELY101", fields(i)) for i in range((rounds + 1) * n)]
    bodies = [json.dumps(w).encode() for w in wires]
    path = "/zcdservice/v1/lg/ELYApi"

    # Crypto only: what every request costs before any business or storage, alone and at the same concurrency.
    def crypto(wire: dict[str, str]) -> None:
        frame = parse_frame(wire)
        check_sign(frame, receiver)
        open_request(frame, receiver)

    def crypto_round(batch: list[dict[str, str]]) -> float:
        start = time.perf_counter()
        for wire in batch:
            crypto(wire)
        return len(batch) / (time.perf_counter() - start)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        start = time.perf_counter()
        list(pool.map(crypto, wires[:n]))
        crypto_parallel = n / (time.perf_counter() - start)

    async def drive(batch: list[bytes]) -> float:
        # ``concurrency`` clients, each sending its next request as soon as it has its answer: the load
        # generator shares the process, so it is kept to the least work (no task or semaphore per request).
        pending = iter(batch)

        async def client() -> None:
            for body in pending:
                answer = await asgi_post(app, path, body)
                if answer["code"] != "000":
                    raise SystemExit(f"unexpected answer {answer}")

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(args.concurrency)))
        return len(batch) / (time.perf_counter() - began)

    async def warm_up() -> None:
        await asgi_post(app, path, bodies[-1])  # (and registers the last application)

    asyncio.run(warm_up())
    crypto_rates: list[float] = []
    full_rates: list[float] = []
    for r in range(rounds):
        crypto_rates.append(crypto_round(wires[r * n : (r + 1) * n]))
        full_rates.append(asyncio.run(drive(bodies[r * n : (r + 1) * n])))
    ratios = [full / crypto for full, crypto in zip(full_rates, crypto_rates, strict=True)]
    crypto_rate, full_rate, ratio = (statistics.median(x) for x in (crypto_rates, full_rates, ratios))
    strict = full_rate / crypto_parallel

    # Latency over real HTTP on loopback, same kind of requests, one client with keep-alive.
    server = BackgroundServer(
        create_app(runtime, admin_token="bench", run_dispatcher=False), free_port(), lifespan="off"
    )
    latencies: list[float] = []
    with httpx.Client(base_url=server.url) as client:
        for body in bodies[rounds * n : (rounds + 1) * n - 1]:
            began = time.perf_counter()
            reply = client.post(path, content=body, headers={"content-type": "application/json"})
            latencies.append((time.perf_counter() - began) * 1000)
            if reply.json()["code"] != "000":
                raise SystemExit(f"unexpected answer {reply.text}")
    server.stop()
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]

    backend = "SQLite" if args.db == "sqlite" else args.db.split(":")[0]
    print(f"ELY101, {rounds} interleaved rounds of {n} requests, {backend} (medians)")
    print(f"  crypto only (verify + decrypt), one thread      {crypto_rate:8.0f} req/s")
    print(f"  crypto only, {args.concurrency} threads                     {crypto_parallel:8.0f} req/s")
    print(
        f"  full path through the ASGI app, {args.concurrency} in flight  {full_rate:8.0f} req/s   "
        f"({ratio:.0%} of one-thread crypto, {strict:.0%} of {args.concurrency}-thread crypto)"
    )
    print("  rounds, crypto only: " + ", ".join(f"{r:.0f}" for r in crypto_rates) + " req/s")
    print("  rounds, full path:   " + ", ".join(f"{r:.0f}" for r in full_rates) + " req/s")
    print("  rounds, full/crypto: " + ", ".join(f"{r:.0%}" for r in ratios))
    print(
        f"  over HTTP on loopback               p50 {p50:.2f} ms   p99 {p99:.2f} ms   ({len(latencies)} requests)"
    )
    passed = ratio >= 0.60
    print(
        ("PASS  " if passed else "FAIL  ")
        + f"full path {ratio:.0%} of crypto-only, median of {rounds} per-round ratios (need >= 60%)"
    )
    runtime.stop()
    return 0 if passed else 1


def over_http(args: argparse.Namespace) -> int:
    """ELY101 over real HTTP against 1 and ``--workers`` `baohan serve` processes; see the module doc."""
    import os
    import subprocess

    from scaffold import ENV, baohan, database, issuer, receiver, stop, wait_delivered, wait_http

    if args.db != "sqlite" and not args.db.startswith("postgres"):
        raise SystemExit("--http runs on PostgreSQL: give --db postgresql://… or leave --db out")
    counts = sorted({1, max(1, args.workers)})
    n = args.requests
    with database(None if args.db == "sqlite" else args.db) as (db, _):
        target = issuer(db, free_port())
        print(f"preparing {len(counts) * n} encrypted ELY101 requests ...", file=sys.stderr)
        wires = {
            k: [
                encode_request(
                    target.sender,
                    "ELY101",
                    sample_application(
                        f"HTTP-{k}-{i:07d}", projectCode=f"ZB-{k}-{i:05d}", bidCode=f"ZB-{k}-{i:05d}-01"
                    ),
                )
                for i in range(n)
            ]
            for k in counts
        }

        def crypto_rate(batch: list[dict[str, str]]) -> float:
            began = time.perf_counter()
            for wire in batch:
                frame = parse_frame(wire)
                check_sign(frame, target.receiving)
                open_request(frame, target.receiving)
            return len(batch) / (time.perf_counter() - began)

        results: dict[int, dict[str, float]] = {}
        delivered_before = 0
        with receiver(target.receiver_config):
            for k in counts:
                crypto = crypto_rate(wires[k][: min(n, 500)])
                requests = Path(tempfile.mkstemp(prefix="baohan-bench-", suffix=".jsonl")[1])
                requests.write_text("".join(json.dumps(w) + "\n" for w in wires[k]))
                port = free_port()
                command = ("serve", "procurement", "--role", "issuer", "--db", db, "--port", str(port))
                command += ("--admin-port", str(free_port()))
                serve = baohan(
                    *command, "--workers", str(k), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                try:
                    wait_http(f"http://127.0.0.1:{port}/health")
                    load = subprocess.run(
                        [
                            sys.executable,
                            str(Path(__file__).with_name("scaffold.py")),
                            "load",
                            f"http://127.0.0.1:{port}/zcdservice/v1/lg/ELYApi",
                            str(args.concurrency),
                            str(requests),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                        env=ENV,
                    )
                    summary = json.loads(load.stdout)
                    if summary["failed"]:
                        raise SystemExit(f"{summary['failed']} requests failed, e.g. {summary['failures']}")
                    delivered_before += n
                    wait_delivered(target, delivered_before)
                    finished = time.time()
                finally:
                    stop(serve)
                    requests.unlink()
                results[k] = {
                    "crypto": crypto,
                    "answered": summary["answered"] / summary["seconds"],
                    "sustained": n / (finished - summary["began_wall"]),
                }
                print(f"  {k} server process(es): {results[k]}", file=sys.stderr)
        target.runtime.stop()
    crypto = statistics.median(r["crypto"] for r in results.values())
    print(
        f"ELY101 over HTTP to `baohan serve` on PostgreSQL, {n} requests per run, {args.concurrency} "
        f"connections from a load generator process, {len(os.sched_getaffinity(0))} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(f"  crypto only (verify + decrypt), one thread     {crypto:7.0f} req/s   (baseline)")
    base = results[1]
    for k, r in results.items():
        print(
            f"  {k} server process{'es' if k > 1 else '  '}   answered {r['answered']:6.0f} req/s "
            f"({r['answered'] / crypto:.0%} of crypto, {r['answered'] / base['answered']:.2f}x of 1)   "
            f"sustained {r['sustained']:6.0f} req/s ({r['sustained'] / crypto:.0%} of crypto, "
            f"{r['sustained'] / base['sustained']:.2f}x of 1)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
