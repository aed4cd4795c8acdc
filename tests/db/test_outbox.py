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
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.outbox import (
    LEASE_EXPIRED_NOTE,
    Dispatcher,
    OutboxMessage,
    OutboxStatus,
    PermanentFailure,
    RetryPolicy,
    attempts,
    dead_letters,
    enqueue,
    purge_delivered,
    retry_dead,
)
from baohan.services.delivery import Courier
from tests.db.outbox_rows import fill_outbox

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


def test_a_dispatcher_claims_only_the_kinds_it_delivers_and_leaves_the_rest_pending(
    sessions: Sessions,
) -> None:
    # A procurement-only dispatcher on a database a tender role also writes to: the tender notice must wait
    # for a process that hosts its role, not become a dead letter here ("no handler").
    clock = FakeClock()
    ours = put(sessions, clock)
    theirs = put(sessions, clock, kind="tender.baohannotice", destination="platform-tender")
    receiver = Receiver()
    courier = Courier({"ELY102": receiver})
    procurement_only = Dispatcher(sessions, courier, clock=clock, kinds=courier.kinds())
    assert procurement_only.run_once() == 1
    assert receiver.accepted == {ours: 1}
    left = load(sessions, theirs)
    assert left.status is OutboxStatus.PENDING and left.attempts == 0
    # Nor does it take over a foreign kind whose lease ran out in the process that hosts it.
    lease = timedelta(seconds=30)

    def die(message: OutboxMessage) -> None:
        raise DispatcherDied

    with pytest.raises(DispatcherDied):
        Dispatcher(sessions, die, lease=lease, clock=clock, kinds={"tender.baohannotice"}).run_once()
    clock.advance(lease)
    assert procurement_only.run_once() == 0
    assert load(sessions, theirs).status is OutboxStatus.DELIVERING
    tender = Receiver()
    assert Dispatcher(sessions, tender, clock=clock, kinds={"tender.baohannotice"}).run_once() == 1
    assert tender.accepted == {theirs: 1}


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


# -- order per aggregate, schedules, permanent refusals, isolation, concurrency --------------------------


class Recording(Receiver):
    """A receiver that also keeps the order of what it accepted, and can refuse chosen messages for good."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.refuse: set[str] = set()

    def __call__(self, message: OutboxMessage) -> None:
        if message.id in self.refuse:
            raise PermanentFailure(f"ELY102 answered 103: {message.id} is invalid")
        super().__call__(message)
        with self._lock:
            self.order.append(message.id)


def test_an_aggregates_messages_wait_for_the_earlier_ones_while_the_receiver_is_down(
    sessions: Sessions,
) -> None:
    clock = FakeClock()
    receiver = Recording()
    a = [put(sessions, clock, aggregate="app-A", payload={"n": n}) for n in range(3)]
    b = put(sessions, clock, aggregate="app-B")
    dispatcher = Dispatcher(sessions, receiver, clock=clock, concurrency=4, rng=random.Random(2))

    receiver.down = True
    assert dispatcher.run_once() == 2  # only the heads of the two lines: a[0] and b
    assert {load(sessions, i).attempts for i in a} == {1, 0}
    assert load(sessions, a[1]).attempts == 0 and load(sessions, a[2]).attempts == 0
    clock.advance(timedelta(hours=1))
    assert dispatcher.run_once() == 2  # still down: the heads again, nothing behind them

    receiver.down = False
    clock.advance(timedelta(hours=1))
    while dispatcher.run_once():
        pass
    assert [i for i in receiver.order if i in a] == a
    assert set(receiver.order) == {*a, b}
    assert all(load(sessions, i).status is OutboxStatus.DELIVERED for i in [*a, b])


def test_a_dead_letter_holds_its_aggregate_until_an_operator_retries_it(sessions: Sessions) -> None:
    receiver = Recording()
    first = put(sessions, aggregate="app-A")
    second = put(sessions, aggregate="app-A")
    other = put(sessions, aggregate="app-B")
    receiver.refuse.add(first)
    dispatcher = Dispatcher(sessions, receiver)

    while dispatcher.run_once():
        pass
    refused = load(sessions, first)
    assert refused.status is OutboxStatus.DEAD and refused.attempts == 1  # dead at once, not retried
    assert refused.last_error == f"PermanentFailure: ELY102 answered 103: {first} is invalid"
    assert load(sessions, second).status is OutboxStatus.PENDING and load(sessions, second).attempts == 0
    assert receiver.order == [other]

    receiver.refuse.clear()
    with transaction(sessions) as session:
        retry_dead(session, first)
    while dispatcher.run_once():
        pass
    assert receiver.order == [other, first, second]


def test_a_transient_failure_is_retried_and_a_permanent_one_is_not(sessions: Sessions) -> None:
    clock = FakeClock()
    transient, permanent = put(sessions, clock), put(sessions, clock)

    def deliver(message: OutboxMessage) -> None:
        if message.id == permanent:
            raise PermanentFailure("HTTP 404")
        raise TimeoutError("read timed out")

    dispatcher = Dispatcher(sessions, deliver, clock=clock)
    assert dispatcher.run_once() == 2
    assert load(sessions, permanent).status is OutboxStatus.DEAD
    retried = load(sessions, transient)
    assert retried.status is OutboxStatus.PENDING and retried.next_attempt_at > clock.now
    clock.advance(timedelta(hours=1))
    assert dispatcher.run_once() == 1  # the transient one only
    with sessions() as session:
        assert [m.id for m in dead_letters(session)] == [permanent]


def test_a_scheduled_message_is_not_sent_early_and_its_deadline_counts_from_then(sessions: Sessions) -> None:
    clock = FakeClock()
    opening = clock.now + timedelta(days=3)
    message_id = put(sessions, clock, not_before=opening, deadline=timedelta(hours=1))
    receiver = Receiver()
    dispatcher = Dispatcher(sessions, receiver, clock=clock)
    scheduled = load(sessions, message_id)
    assert scheduled.next_attempt_at == opening and scheduled.deadline_at == opening + timedelta(hours=1)

    clock.now = opening - timedelta(microseconds=1)
    assert dispatcher.run_once() == 0
    clock.now = opening
    assert dispatcher.run_once() == 1
    assert receiver.accepted == {message_id: 1}


def test_a_schedule_without_a_time_zone_is_refused(sessions: Sessions) -> None:
    with pytest.raises(ValueError, match="not_before must carry a time zone"):
        put(sessions, not_before=datetime(2026, 12, 1, 9, 30))


def test_a_hanging_destination_does_not_hold_up_the_others(sessions: Sessions) -> None:
    release = threading.Event()
    delivered: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def deliver(message: OutboxMessage) -> None:
        if message.destination == "hangs":
            release.wait(timeout=60)  # a counterparty that accepts the connection and never answers
        with lock:
            delivered[message.destination] += 1

    for n in range(12):
        put(sessions, destination="hangs", payload={"n": n})
    with transaction(sessions) as session:
        for n in range(40):
            enqueue(session, destination="answers", kind="ELY102", payload={"n": n})
    dispatcher = Dispatcher(sessions, deliver, concurrency=6, per_destination=3)
    stop = threading.Event()
    worker = threading.Thread(target=dispatcher.run_forever, args=(stop, 0.01))
    started = time.monotonic()
    worker.start()
    try:
        while delivered["answers"] < 40:
            assert time.monotonic() - started < 10, f"only {delivered['answers']} of 40 arrived"
            time.sleep(0.01)
        assert delivered["hangs"] == 0
        with sessions() as session:
            holding = session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.destination == "hangs", OutboxMessage.status == OutboxStatus.DELIVERING)
            )
        assert holding == 3  # its share of the workers, no more
    finally:
        release.set()
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()


def test_deliveries_run_concurrently_and_all_arrive_once(sessions: Sessions) -> None:
    receiver = Receiver()
    active, peak = [0], [0]
    lock = threading.Lock()

    def deliver(message: OutboxMessage) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)  # network time
        receiver(message)
        with lock:
            active[0] -= 1

    with transaction(sessions) as session:
        ids = {
            enqueue(session, destination="platform-gp", kind="ELY102", payload={"n": n}) for n in range(120)
        }
    stop = threading.Event()
    dispatcher = Dispatcher(sessions, deliver, concurrency=8, per_destination=8)
    worker = threading.Thread(target=dispatcher.run_forever, args=(stop, 0.01))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while len(receiver.accepted) < len(ids):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert set(receiver.accepted) == ids and set(receiver.accepted.values()) == {1}
    assert peak[0] > 1


def test_chores_run_while_dispatching_and_old_deliveries_are_purged(sessions: Sessions) -> None:
    old, fresh = put(sessions), put(sessions)
    assert Dispatcher(sessions, Receiver()).run_once() == 2
    cutoff = utcnow() + timedelta(seconds=1)
    with transaction(sessions) as session:
        session.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.id == old)
            .values(delivered_at=cutoff - timedelta(days=40))
        )
    ran = threading.Event()

    def purge(now: datetime) -> None:
        with transaction(sessions) as session:
            purge_delivered(session, older_than=now - timedelta(days=30))
        ran.set()

    stop = threading.Event()
    worker = threading.Thread(
        target=Dispatcher(sessions, Receiver(), chores=[purge]).run_forever, args=(stop, 0.01)
    )
    worker.start()
    try:
        assert ran.wait(timeout=10)
    finally:
        stop.set()
        worker.join(timeout=10)
    with sessions() as session:
        assert session.get(OutboxMessage, old) is None and session.get(OutboxMessage, fresh) is not None
        assert attempts(session, old) == []


def test_an_unknown_kind_is_a_dead_letter_at_once(sessions: Sessions) -> None:
    message_id = put(sessions, kind="ELY999")
    Dispatcher(sessions, Courier({"ELY102": Receiver()})).run_once()
    dead = load(sessions, message_id)
    assert dead.status is OutboxStatus.DEAD and "no handler registered for outbox kind 'ELY999'" in str(
        dead.last_error
    )


def test_a_kind_cannot_be_registered_twice() -> None:
    courier = Courier({"ELY102": Receiver()})
    with pytest.raises(ValueError, match="already has a handler"):
        courier.register("ELY102", Receiver())


def _fill(sessions: Sessions, pending: int, delivered: int) -> None:
    """Many messages, fast: a busy outbox with a long history, its statistics up to date."""
    fill_outbox(sessions, pending, delivered)
    with sessions() as session:
        session.execute(text("ANALYZE"))
        session.commit()


def test_claiming_is_served_by_indexes_however_long_the_queue(db_url: str, sessions: Sessions) -> None:
    _fill(sessions, pending=20_000, delivered=20_000)
    engine = sessions.kw["bind"]
    statements: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if (
            "outbox_messages" in statement
            and not executemany
            and statement.lstrip().startswith(("SELECT", "UPDATE"))
        ):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        assert Dispatcher(sessions, Receiver(), concurrency=8, per_destination=2).run_once(limit=8) == 8
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    assert any("NOT (EXISTS" in s or "NOT EXISTS" in s for s, _ in statements)  # the head-of-line claim ran
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as connection:
        for statement, parameters in statements:
            explain = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            plan = [str(row[-1]) for row in connection.exec_driver_sql(explain + statement, parameters)]
            scans = [line for line in plan if ("Seq Scan" in line if postgres else line.startswith("SCAN"))]
            assert not scans, (statement, plan)


def test_a_payload_carries_a_reference_and_the_handler_gets_the_bytes(sessions: Sessions) -> None:
    import base64

    from baohan.adapters.files import DatabaseFileStore
    from baohan.services.filerefs import file_ref

    files = DatabaseFileStore(chunk_size=1000)
    content = bytes(range(256)) * 20  # 5,120 bytes over six chunks
    with transaction(sessions) as session:
        file_id = files.put(session, "letter.pdf", content)
    whole = put(sessions, kind="upload", payload={"n": 1, "file": file_ref(file_id)})
    part = put(sessions, kind="upload", payload={"n": 2, "file": file_ref(file_id, 900, 2100)})
    gone = put(sessions, kind="upload", payload={"n": 3, "file": file_ref("no-such-file")})
    received: dict[int, bytes] = {}

    def upload(message: OutboxMessage) -> None:
        received[message.payload["n"]] = base64.b64decode(message.payload["file"])

    Dispatcher(sessions, Courier({"upload": upload}, files=files, sessions=sessions)).run_once()
    assert received == {1: content, 2: content[900:2100]}
    assert load(sessions, whole).payload["file"] == {"$file": file_id}  # the row keeps the reference
    assert load(sessions, part).status is OutboxStatus.DELIVERED
    dead = load(sessions, gone)
    assert dead.status is OutboxStatus.DEAD and "cannot be read" in str(dead.last_error)


def test_a_file_range_must_be_whole_and_forwards() -> None:
    from baohan.services.filerefs import file_ref

    with pytest.raises(ValueError, match="both its start and its end"):
        file_ref("f", 1)
    with pytest.raises(ValueError, match="run forwards"):
        file_ref("f", 5, 2)
