"""What claiming due outbox messages costs with 10 and with 100,000 pending, on SQLite and PostgreSQL.

    .venv/bin/python bench/claim.py [--pg-url postgresql://…]

The claim must cost the same however long the queue: it is served by indexes (the tests check the query
plans). Printed: the median time of one claim of a batch of 16 (claimed, then put back), each size against
the 10-pending figure measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test suite's cluster and outbox filler

from sqlalchemy import update
from tests.db.outbox_rows import fill_outbox
from tests.db.postgres import start_cluster

from baohan.adapters.db.engine import make_engine, make_session_factory, transaction, utcnow
from baohan.adapters.db.migrate import upgrade
from baohan.adapters.outbox import Dispatcher, OutboxMessage, OutboxStatus, claim_query


def claim_time(sessions, rounds: int = 30) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median seconds of the picking SELECT alone, and of a whole claim (pick, lease, attempts, commit)."""
    dispatcher = Dispatcher(sessions, lambda m: None, concurrency=16, per_destination=16)
    picks, times = [], []
    for _ in range(rounds):
        with sessions() as session:
            start = time.perf_counter()
            session.execute(claim_query(utcnow(), 16)).all()
            picks.append(time.perf_counter() - start)
        start = time.perf_counter()
        claims = dispatcher._claim(16, (), {})
        times.append(time.perf_counter() - start)
        with transaction(sessions) as session:  # put them back, so every round claims from the same queue
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([c.message.id for c in claims]))
                .values(status=OutboxStatus.PENDING, lease_until=None)
            )
    return statistics.median(picks), statistics.median(times)


def measure(url: str) -> dict[int, tuple[float, float]]:
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    results, have, made = {}, 0, 0
    for size in (10, 1_000, 100_000):
        # Each message about an application of its own; the first fill adds a long delivered history.
        history = 0 if have else 50_000
        fill_outbox(sessions, size - have, history, aggregates=10**9, first=made)
        made, have = made + size - have + history, size
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
        results[size] = claim_time(sessions)
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg-url", help="a PostgreSQL database to fill (its outbox tables are written)")
    args = parser.parse_args()
    urls = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp(prefix='baohan-claim-')) / 'claim.db'}"}
    cluster = None
    if args.pg_url:
        urls["postgresql"] = args.pg_url
    else:  # a throwaway local cluster, as the tests start one
        cluster = start_cluster()
        urls["postgresql"] = cluster.url(cluster.create_database())
    for name, url in urls.items():
        results = measure(url)
        pick0, claim0 = results[10]
        for size, (pick, claim) in results.items():
            print(
                f"{name:10} {size:>7} pending: pick {pick * 1000:6.3f} ms ({pick / pick0:4.2f}x), "
                f"whole claim of 16 {claim * 1000:6.2f} ms ({claim / claim0:4.2f}x the 10-pending figures)"
            )
    if cluster is not None:
        cluster.stop()


if __name__ == "__main__":
    main()
