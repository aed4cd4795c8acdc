"""The transactional outbox on SQLite and PostgreSQL: atomic enqueue, retries, dead letters, leases, workers."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.outbox import (
    LEASE_EXPIRED_NOTE,
    Dispatcher,
    OutboxMessage,
    OutboxStatus,
    RetryPolicy,
    attempts,
    dead_letters,
    enqueue,
    retry_dead,
)

Sessions = sessionmaker[Session]
PAYLOAD = {"orderNo": "BH-2024-0001", "applicant": "某某建设有限公司", "amount": "12345.60"}


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class Receiver:
    """A counterparty that can be down; counts the messages it accepted, thread-safely."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.accepted: collections.Counter[str] = collections.Counter()
        self.payloads: dict[str, dict[str, object]] = {}
        self._lock = threading.Lock()

    def __call__(self, message: OutboxMessage) -> None:
        with self._lock:
            self.calls += 1
            if self.down:
                raise ConnectionError(f"{message.destination} is unreachable")
            self.accepted[message.id] += 1
            self.payloads[message.id] = message.payload


def put(sessions: Sessions, clock: Callable[[], datetime] = utcnow, **kwargs: object) -> str:
    """Enqueue one message in its own committed transaction."""
    fields: dict[str, object] = {"destination": "platform-gp", "kind": "ELY102", "payload": PAYLOAD}
    fields.update(kwargs)
    with transaction(sessions) as session:
        return enqueue(session, now=clock(), **fields)  # type: ignore[arg-type]


def load(sessions: Sessions, message_id: str) -> OutboxMessage:
    with sessions() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def count(sessions: Sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_enqueue_in_a_rolled_back_transaction_leaves_nothing(sessions: Sessions) -> None:
    def change_state_and_notify() -> None:
        with transaction(sessions) as session:
            enqueue(session, destination="platform-gp", kind="ELY102", payload=PAYLOAD)
            raise RuntimeError("state change refused")

    with pytest.raises(RuntimeError, match="state change refused"):
        change_state_and_notify()
    assert count(sessions) == 0
    message_id = put(sessions)
    assert count(sessions) == 1
    message = load(sessions, message_id)
    assert message.status is OutboxStatus.PENDING and message.attempts == 0
    assert message.payload == PAYLOAD
    assert message.created_at.tzinfo is not None and message.created_at.utcoffset() == timedelta(0)
    assert message.deadline_at - message.created_at == timedelta(hours=24)


def test_dedupe_key_makes_enqueue_idempotent(sessions: Sessions) -> None:
    first = put(sessions, dedupe_key="ELY102:BH-2024-0001")
    with transaction(sessions) as session:
        again = enqueue(
            session, destination="platform-gp", kind="ELY102", payload={}, dedupe_key="ELY102:BH-2024-0001"
        )
        # Twice in one transaction too: the second sees the first, uncommitted.
        other = enqueue(session, destination="platform-gp", kind="ELY102", payload={}, dedupe_key="other")
        other_again = enqueue(
            session, destination="platform-gp", kind="ELY102", payload={}, dedupe_key="other"
        )
    assert again == first
    assert other == other_again != first
    assert count(sessions) == 2
    assert load(sessions, first).payload == PAYLOAD  # the second enqueue changed nothing


def test_a_message_is_delivered_once_and_its_attempt_recorded(sessions: Sessions) -> None:
    receiver = Receiver()
    message_id = put(sessions)
    dispatcher = Dispatcher(sessions, receiver)
    assert dispatcher.run_once() == 1
    assert dispatcher.run_once() == 0
    assert receiver.accepted == {message_id: 1}
    assert receiver.payloads[message_id] == PAYLOAD
    message = load(sessions, message_id)
    assert message.status is OutboxStatus.DELIVERED and message.attempts == 1
    assert message.delivered_at is not None and message.lease_until is None
    with sessions() as session:
        [attempt] = attempts(session, message_id)
    assert attempt.number == 1 and attempt.ok is True and attempt.error is None
    assert attempt.finished_at is not None and attempt.finished_at >= attempt.started_at


def test_failed_deliveries_back_off_within_the_policy_then_succeed_once(sessions: Sessions) -> None:
    clock = FakeClock()
    policy = RetryPolicy(base=timedelta(seconds=1), factor=2, max_delay=timedelta(seconds=8), jitter=0.5)
    receiver = Receiver()
    receiver.down = True
    ids = [put(sessions, clock) for _ in range(3)]
    dispatcher = Dispatcher(sessions, receiver, policy=policy, clock=clock, rng=random.Random(1))

    delays: list[timedelta] = []
    for attempt_number in range(1, 7):
        assert dispatcher.run_once() == 3
        scheduled = [load(sessions, i) for i in ids]
        ceiling = min(timedelta(seconds=2 ** (attempt_number - 1)), policy.max_delay)
        for message in scheduled:
            assert message.status is OutboxStatus.PENDING and message.attempts == attempt_number
            assert message.last_error == "ConnectionError: platform-gp is unreachable"
            delay = message.next_attempt_at - clock.now
            assert ceiling * 0.5 <= delay <= ceiling
        delays.append(scheduled[0].next_attempt_at - clock.now)
        earliest = min(m.next_attempt_at for m in scheduled)
        latest = max(m.next_attempt_at for m in scheduled)
        clock.now = earliest - timedelta(microseconds=1)
        assert dispatcher.run_once() == 0  # nothing is due before its time
        clock.now = latest
    # Below the cap, factor 2 with half jitter means each wait is at least the previous one's ceiling.
    assert delays[0] <= delays[1] <= delays[2] <= delays[3]
    assert all(d <= policy.max_delay for d in delays)

    receiver.down = False
    assert dispatcher.run_once() == 3
    assert dispatcher.run_once() == 0
    assert receiver.accepted == dict.fromkeys(ids, 1)
    assert receiver.calls == 3 * 7
    with sessions() as session:
        for message_id in ids:
            history = attempts(session, message_id)
            assert [a.number for a in history] == list(range(1, 8))
            assert [a.ok for a in history] == [False] * 6 + [True]
            assert all(a.error == "ConnectionError: platform-gp is unreachable" for a in history[:6])


def test_retry_policy_bounds() -> None:
    policy = RetryPolicy(base=timedelta(seconds=2), factor=3, max_delay=timedelta(minutes=5), jitter=1.0)
    assert [policy.ceiling(n).total_seconds() for n in range(1, 7)] == [2, 6, 18, 54, 162, 300]
    assert policy.ceiling(10_000) == timedelta(minutes=5)  # no float overflow on a very long outage
    rng = random.Random(3)
    samples = [policy.delay(4, rng) for _ in range(500)]
    assert all(timedelta(0) <= s <= timedelta(seconds=54) for s in samples)
    assert min(samples) < timedelta(seconds=5) and max(samples) > timedelta(seconds=49)  # full jitter
    fixed = RetryPolicy(base=timedelta(seconds=1), factor=2, max_delay=timedelta(seconds=10), jitter=0)
    assert [fixed.delay(n, rng).total_seconds() for n in range(1, 6)] == [1, 2, 4, 8, 10]
    for bad in ({"jitter": 1.5}, {"factor": 0.5}, {"base": timedelta(0)}, {"max_delay": timedelta(0)}):
        with pytest.raises(ValueError, match="RetryPolicy"):
            RetryPolicy(**bad)


def test_past_its_deadline_a_message_is_dead_until_retried(sessions: Sessions) -> None:
    clock = FakeClock()
    policy = RetryPolicy(base=timedelta(minutes=1), max_delay=timedelta(minutes=1), jitter=0)
    receiver = Receiver()
    receiver.down = True
    message_id = put(sessions, clock, deadline=timedelta(seconds=30))
    dispatcher = Dispatcher(sessions, receiver, policy=policy, clock=clock)

    assert dispatcher.run_once() == 1
    message = load(sessions, message_id)
    # The next wait (1 min) would pass the deadline: one last attempt is made at the deadline instead.
    assert message.status is OutboxStatus.PENDING and message.next_attempt_at == message.deadline_at
    delivered_id = put(sessions, clock, kind="ELY104")
    receiver.down = False
    assert dispatcher.run_once() == 1  # the other message goes through meanwhile
    receiver.down = True

    clock.now = message.deadline_at
    assert dispatcher.run_once() == 1
    dead = load(sessions, message_id)
    assert dead.status is OutboxStatus.DEAD and dead.attempts == 2
    assert dead.last_error == "ConnectionError: platform-gp is unreachable"
    clock.advance(timedelta(hours=1))
    assert dispatcher.run_once() == 0  # dead messages are not retried by themselves
    with sessions() as session:
        assert [m.id for m in dead_letters(session)] == [message_id]

    with pytest.raises(ValueError, match="not dead"), transaction(sessions) as session:
        retry_dead(session, delivered_id, now=clock.now)
    with pytest.raises(LookupError), transaction(sessions) as session:
        retry_dead(session, "no-such-message", now=clock.now)
    with transaction(sessions) as session:
        retry_dead(session, message_id, deadline=timedelta(hours=2), now=clock.now)
    revived = load(sessions, message_id)
    assert revived.status is OutboxStatus.PENDING
    assert revived.deadline_at == clock.now + timedelta(hours=2) and revived.next_attempt_at == clock.now
    with sessions() as session:
        assert dead_letters(session) == []

    receiver.down = False
    assert dispatcher.run_once() == 1
    assert load(sessions, message_id).status is OutboxStatus.DELIVERED
    assert receiver.accepted == {message_id: 1, delivered_id: 1}
    with sessions() as session:
        assert [a.ok for a in attempts(session, message_id)] == [False, False, True]


class DispatcherDied(BaseException):
    """Stands for the process dying inside deliver(): nothing after it runs."""


def test_an_expired_lease_is_claimed_again(sessions: Sessions) -> None:
    clock = FakeClock()
    lease = timedelta(seconds=30)
    message_id = put(sessions, clock)

    def die(message: OutboxMessage) -> None:
        raise DispatcherDied

    with pytest.raises(DispatcherDied):
        Dispatcher(sessions, die, lease=lease, clock=clock).run_once()
    claimed = load(sessions, message_id)
    assert claimed.status is OutboxStatus.DELIVERING and claimed.lease_until == clock.now + lease

    receiver = Receiver()
    survivor = Dispatcher(sessions, receiver, lease=lease, clock=clock)
    clock.advance(lease - timedelta(microseconds=1))
    assert survivor.run_once() == 0  # still leased to the dead dispatcher
    clock.advance(timedelta(microseconds=1))
    assert survivor.run_once() == 1
    assert receiver.accepted == {message_id: 1}
    assert load(sessions, message_id).status is OutboxStatus.DELIVERED
    with sessions() as session:
        first, second = attempts(session, message_id)
    assert first.ok is None and first.finished_at is None and first.error == LEASE_EXPIRED_NOTE
    assert second.ok is True and second.number == 2


def test_a_late_failure_does_not_undo_the_delivery_of_whoever_took_over(sessions: Sessions) -> None:
    clock = FakeClock()
    lease = timedelta(seconds=10)
    message_id = put(sessions, clock)
    receiver = Receiver()
    survivor = Dispatcher(sessions, receiver, lease=lease, clock=clock)

    def slow_then_fail(message: OutboxMessage) -> None:
        clock.advance(lease * 2)  # this delivery outlives its lease; another dispatcher takes over
        assert survivor.run_once() == 1
        raise TimeoutError("read timed out")

    Dispatcher(sessions, slow_then_fail, lease=lease, clock=clock).run_once()
    message = load(sessions, message_id)
    assert message.status is OutboxStatus.DELIVERED and message.attempts == 2
    assert receiver.accepted == {message_id: 1}
    with sessions() as session:
        first, second = attempts(session, message_id)
    assert (first.ok, first.error) == (False, "TimeoutError: read timed out")
    assert second.ok is True


def test_deliver_errors_are_recorded_truncated(sessions: Sessions) -> None:
    message_id = put(sessions)

    def verbose(message: OutboxMessage) -> None:
        raise ValueError("x" * 10_000)

    Dispatcher(sessions, verbose).run_once()
    with sessions() as session:
        [attempt] = attempts(session, message_id)
    assert attempt.error is not None and attempt.error.startswith("ValueError: xxx")
    assert len(attempt.error) == 2000 and attempt.error.endswith("…")


def test_two_dispatchers_in_threads_deliver_each_message_exactly_once(sessions: Sessions) -> None:
    ids = set()
    with transaction(sessions) as session:
        for n in range(200):
            ids.add(enqueue(session, destination="platform-gp", kind="ELY102", payload={"n": n}))
    receiver = Receiver()
    by_worker: collections.Counter[str] = collections.Counter()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        def deliver(message: OutboxMessage) -> None:
            receiver(message)
            by_worker[name] += 1  # only this thread writes its own key
            time.sleep(0.001)  # a little network time, so the workers overlap

        dispatcher = Dispatcher(sessions, deliver, lease=timedelta(minutes=5))
        start.wait()
        try:
            while dispatcher.run_once(limit=25):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert set(receiver.accepted) == ids
    assert set(receiver.accepted.values()) == {1}
    assert by_worker["a"] > 0 and by_worker["b"] > 0 and sum(by_worker.values()) == 200
    with sessions() as session:
        statuses = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    assert statuses == [(OutboxStatus.DELIVERED, 200)]


# A dispatcher in its own process whose receiver never answers: the parent kills it mid-delivery.
HANGING_DISPATCHER = """
import sys, time
from datetime import timedelta
from pathlib import Path
from baohan.adapters.db.engine import make_engine, make_session_factory
from baohan.adapters.outbox import Dispatcher

url, started, lease = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])

def deliver(message):
    partial = started.with_suffix(".tmp")
    partial.write_text(message.id)
    partial.replace(started)
    while True:
        time.sleep(0.05)

Dispatcher(make_session_factory(make_engine(url)), deliver, lease=timedelta(seconds=lease)).run_once()
"""


def test_a_dispatcher_killed_mid_delivery_loses_nothing(
    db_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    message_id = put(sessions)
    started = tmp_path / "delivering"
    child = subprocess.Popen([sys.executable, "-c", HANGING_DISPATCHER, db_url, str(started), "1.0"])
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert child.poll() is None, f"dispatcher exited early with status {child.returncode}"
            assert time.monotonic() < deadline, "dispatcher never started delivering"
            time.sleep(0.02)
        assert started.read_text() == message_id
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    claimed = load(sessions, message_id)
    assert claimed.status is OutboxStatus.DELIVERING and claimed.lease_until is not None
    lease_until = claimed.lease_until
    receiver = Receiver()
    before_expiry = Dispatcher(sessions, receiver, clock=lambda: lease_until - timedelta(milliseconds=1))
    assert before_expiry.run_once() == 0

    time.sleep(max(0.0, (lease_until - utcnow()).total_seconds()) + 0.05)
    assert Dispatcher(sessions, receiver).run_once() == 1
    assert receiver.accepted == {message_id: 1}
    assert load(sessions, message_id).status is OutboxStatus.DELIVERED
    with sessions() as session:
        assert [(a.number, a.ok) for a in attempts(session, message_id)] == [(1, None), (2, True)]


def test_run_forever_delivers_until_stopped(sessions: Sessions) -> None:
    receiver = Receiver()
    delivered = threading.Event()

    def deliver(message: OutboxMessage) -> None:
        receiver(message)
        delivered.set()

    stop = threading.Event()
    worker = threading.Thread(target=Dispatcher(sessions, deliver).run_forever, args=(stop, 0.01))
    worker.start()
    try:
        message_id = put(sessions)  # enqueued while the worker is already idling
        assert delivered.wait(timeout=10)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert receiver.accepted == {message_id: 1}
