"""Outbox delivery on PostgreSQL: ELY102 notices per second from 1 and 2 `baohan dispatch` processes.

    PYTHONPATH=src .venv/bin/python bench/outbox.py [--notices 5000] [--rounds 2] [--db postgresql://…]

Starts a throwaway PostgreSQL 15 (or uses ``--db``), an issuer with a registered platform, and the
platform's recording receiver (a real protocol endpoint: it checks the signature and decrypts every notice)
served by uvicorn with httptools and uvloop in a process of its own. Each round pre-fills ``--notices``
ELY102 notices (each about its own application) and times `baohan dispatch procurement` processes from the
moment the last of them is ready until every notice is recorded as delivered. 1 and 2 dispatchers alternate
for ``--rounds`` rounds; the medians are printed, 2 dispatchers as a ratio of 1 (the baseline of the same
run). Required: at least 500 notices/s with 2 dispatchers. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

from sqlalchemy import delete, insert

from baohan.adapters.db.engine import transaction
from baohan.adapters.outbox import OutboxAttempt, OutboxMessage, message_values
from baohan.services.procurement.notices import status_notice
from baohan.web.serving import free_port
from scaffold import Issuer, baohan, cpu_seconds, database, issuer, receiver, stop, wait_delivered

REQUIRED = 500.0


def prefill(target: Issuer, count: int, round_no: int) -> None:
    """Empty the outbox and queue ``count`` ELY102 notices to the platform, each of its own application."""
    peer = target.runtime.registry.peers()[0].id
    rows = [
        message_values(
            destination=peer,
            kind="ELY102",
            payload=status_notice(f"OUTBOX-{round_no}-{i:06d}", "02", failReason="benchmark"),
            aggregate=f"bench-{round_no}-{i}",
        )
        for i in range(count)
    ]
    with transaction(target.runtime.sessions) as session:
        session.execute(delete(OutboxAttempt))
        session.execute(delete(OutboxMessage))
        session.execute(insert(OutboxMessage), rows)


def deliver(target: Issuer, count: int, dispatchers: int, concurrency: int) -> tuple[float, float]:
    """Notices per second delivered by ``dispatchers`` processes, timed from when all of them are ready,
    and the CPU milliseconds the dispatcher processes spent per notice (start-up included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ("dispatch", "procurement", "--role", "issuer", "--db", target.db, "--idle-sleep", "0.05")
    procs = [
        baohan(*command, "--concurrency", str(concurrency), stderr=subprocess.PIPE)
        for _ in range(dispatchers)
    ]
    try:
        for proc in procs:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            try:  # its log is JSON lines; the first says it is dispatching
                started = str(json.loads(line).get("message", "")).startswith("dispatching")
            except (ValueError, AttributeError):
                started = False
            if not started:
                raise SystemExit(f"baohan dispatch did not start: {line.strip() or '(no output)'}")
            # Keep reading its log (a line per delivery): a full pipe would stop the dispatcher mid-round.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
        began, already = time.monotonic(), target.delivered()
        finished = wait_delivered(target, count)
    finally:
        for proc in procs:
            stop(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return (count - already) / (finished - began), cpu * 1000 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="deliveries in flight per dispatcher")
    parser.add_argument("--db", help="a PostgreSQL URL (default: a throwaway cluster)")
    args = parser.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    # CPU milliseconds per notice, by process: where a notice's cost goes on this machine.
    costs: dict[str, list[float]] = {"dispatcher": [], "receiver": [], "postgresql": []}
    commits: list[float] = []  # database transactions per notice: how well claims and outcomes batch
    with database(args.db) as (db, postmaster):
        target = issuer(db, free_port())
        with receiver(target.receiver_config) as peer:
            for r in range(args.rounds):
                for dispatchers in (1, 2):
                    prefill(target, args.notices, r * 10 + dispatchers)
                    spent = cpu_seconds(peer.pid), cpu_seconds(postmaster, tree=True)
                    committed = target.commits()
                    rate, dispatcher_ms = deliver(target, args.notices, dispatchers, args.concurrency)
                    costs["dispatcher"].append(dispatcher_ms)
                    costs["receiver"].append((cpu_seconds(peer.pid) - spent[0]) * 1000 / args.notices)
                    costs["postgresql"].append(
                        (cpu_seconds(postmaster, tree=True) - spent[1]) * 1000 / args.notices
                    )
                    rates[dispatchers].append(rate)
                    commits.append((target.commits() - committed) / args.notices)
                    print(
                        f"  round {r + 1}, {dispatchers} dispatcher(s): {rate:7.0f} notices/s",
                        file=sys.stderr,
                    )
        target.runtime.stop()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    cores = len(os.sched_getaffinity(0))
    print(
        f"outbox delivery on PostgreSQL, {args.notices} ELY102 notices, {args.concurrency} in flight per "
        f"dispatcher, median of {args.rounds} rounds, {cores} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  1 dispatcher process    {one:7.0f} notices/s   (baseline)")
    print(f"  2 dispatcher processes  {two:7.0f} notices/s   ({two / one:.2f}x of 1)")
    print("  rounds: " + "; ".join(f"{k}: " + ", ".join(f"{x:.0f}" for x in v) for k, v in rates.items()))
    per_notice = {name: statistics.median(v) for name, v in costs.items()}
    total = sum(per_notice.values())
    print(
        "  CPU per notice: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_notice.items())
        + f" = {total:.2f} ms; this machine's {cores} CPUs, all ours, would cap delivery at "
        f"{cores * 1000 / total:.0f} notices/s"
    )
    print(f"  database transactions per notice: {statistics.median(commits):.2f} (claims and outcomes)")
    passed = two >= REQUIRED
    print(("PASS  " if passed else "FAIL  ") + f"2 dispatchers {two:.0f} notices/s (need >= {REQUIRED:.0f})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
