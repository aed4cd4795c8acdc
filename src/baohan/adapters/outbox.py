"""The transactional outbox: notices are written in the caller's transaction and delivered at least once.

``enqueue`` only inserts into the caller's session, so a state change and the notice it causes commit
together or not at all. A ``Dispatcher`` claims due messages in batches, in short transactions
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so any number of workers in any number of processes compete
safely), delivers them concurrently outside any transaction, and records each attempt: delivered, retried
later with exponential backoff and jitter, or dead (past its deadline, or refused for good). A claim is a
lease; a worker that dies mid-delivery loses it when it expires and another delivers the message again, so
nothing is lost (receivers must be idempotent).

Messages about one ``aggregate`` (an application, say) go out in the order they were written: one is not
sent while an earlier one is undelivered, dead letters included, so an operator's retry of a dead letter
releases the ones behind it in order. Messages of other aggregates are not held up. ``not_before``
schedules a message for later (a call at bid opening).
"""

from __future__ import annotations

import logging
import math
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column
from sqlalchemy.types import TypeDecorator

from baohan.adapters import metrics
from baohan.adapters.db.engine import Base, JSONText, UTCDateTime, transaction, utcnow
from baohan.adapters.logs import REQUEST_ID
from baohan.domain.ids import new_id

log = logging.getLogger(__name__)

DEFAULT_DEADLINE = timedelta(hours=24)
MAX_ERROR_CHARS = 2000
LEASE_EXPIRED_NOTE = "lease expired before the outcome was recorded (dispatcher stopped during delivery)"


class OutboxStatus(StrEnum):
    """Where a message is in its delivery."""

    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"


class PermanentFailure(Exception):
    """A refusal that a retry cannot change (a validation error, a 4xx): the message is dead at once."""


class _StatusType(TypeDecorator[OutboxStatus]):
    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else OutboxStatus(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> OutboxStatus | None:
        return None if value is None else OutboxStatus(value)


# The literal (not a bound parameter) lets SQLite's planner match the partial index's WHERE clause.
_NOT_DELIVERED = "status <> 'delivered'"


class OutboxMessage(Base):
    """One notice to one counterparty, e.g. an ELY102 result to a platform."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivering', 'delivered', 'dead')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The two ways a message becomes due: scheduled retry time, or an expired lease.
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_messages_status_lease_until", "status", "lease_until"),
        # The undelivered messages of one aggregate, in the order written: the head-of-line check.
        Index(
            "ix_outbox_messages_undelivered_aggregate",
            "aggregate",
            "id",
            sqlite_where=text(_NOT_DELIVERED),
            postgresql_where=text(_NOT_DELIVERED),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    destination: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    aggregate: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[OutboxStatus] = mapped_column(_StatusType)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The id of the request that caused the message: its delivery's log lines carry it (baohan.adapters.logs).
    request_id: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return (
            f"OutboxMessage(id={self.id!r}, kind={self.kind!r}, destination={self.destination!r}, "
            f"status={self.status!s}, attempts={self.attempts})"
        )


class OutboxAttempt(Base):
    """One delivery attempt; ``ok`` is None while it runs or when its dispatcher died during it."""

    __tablename__ = "outbox_attempts"
    __table_args__ = (UniqueConstraint("message_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("outbox_messages.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"OutboxAttempt(message_id={self.message_id!r}, number={self.number}, ok={self.ok})"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt n waits up to ``base * factor**(n-1)``, capped at ``max_delay``.

    ``jitter`` is the random share of that ceiling: 1.0 is full jitter (uniform in [0, ceiling]), 0 none.
    """

    base: timedelta = timedelta(seconds=2)
    factor: float = 2.0
    max_delay: timedelta = timedelta(minutes=10)
    jitter: float = 1.0

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.max_delay < self.base:
            raise ValueError("RetryPolicy needs 0 < base <= max_delay")
        if self.factor < 1:
            raise ValueError("RetryPolicy.factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def ceiling(self, attempt: int) -> timedelta:
        """The longest wait after failed attempt number ``attempt`` (1-based)."""
        base, cap = self.base.total_seconds(), self.max_delay.total_seconds()
        exponent = max(attempt - 1, 0)
        # Compare in log space: factor**exponent overflows a float long before attempts run out.
        if exponent * math.log(self.factor) >= math.log(cap / base):
            return self.max_delay
        return timedelta(seconds=base * self.factor**exponent)

    def delay(self, attempt: int, rng: random.Random) -> timedelta:
        """The wait after failed attempt number ``attempt``, drawn within [ceiling*(1-jitter), ceiling]."""
        return self.ceiling(attempt) * (1 - self.jitter * rng.random())


def message_values(
    *,
    destination: str,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    aggregate: str | None = None,
    not_before: datetime | None = None,
    deadline: timedelta = DEFAULT_DEADLINE,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The row of a new pending message; for :func:`enqueue` and for batched inserts alike.

    ``aggregate`` orders the message after every earlier one of the same aggregate; ``not_before`` holds
    it until then, and its ``deadline`` counts from the moment it becomes due.
    """
    if not destination or not kind:
        raise ValueError("an outbox message needs a destination and a kind")
    if deadline <= timedelta(0):
        raise ValueError("deadline must be positive")
    if not_before is not None and (not_before.tzinfo is None or not_before.utcoffset() is None):
        raise ValueError("not_before must carry a time zone")
    now = now or utcnow()
    due = now if not_before is None or not_before < now else not_before
    return {
        "id": new_id(),
        "destination": destination,
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "aggregate": aggregate,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": due,
        "lease_until": None,
        "deadline_at": due + deadline,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
        "request_id": REQUEST_ID.get(),
    }


def enqueue(
    session: Session,
    *,
    destination: str,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    aggregate: str | None = None,
    not_before: datetime | None = None,
    deadline: timedelta = DEFAULT_DEADLINE,
    now: datetime | None = None,
) -> str:
    """Add a message to the caller's transaction and return its id.

    With a ``dedupe_key`` already used, nothing is added and the existing message's id is returned.
    """
    values = message_values(
        destination=destination,
        kind=kind,
        payload=payload,
        dedupe_key=dedupe_key,
        aggregate=aggregate,
        not_before=not_before,
        deadline=deadline,
        now=now,
    )
    if dedupe_key is None:
        session.execute(insert(OutboxMessage).values(values))
        return str(values["id"])
    # ON CONFLICT DO NOTHING rather than look-then-insert: two transactions enqueuing the same key at once
    # must not fail the second one's business change with a unique violation.
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        upsert(OutboxMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    inserted = session.execute(stmt).scalar_one_or_none()
    if inserted is not None:
        return inserted
    return session.execute(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
    ).scalar_one()


class Backlog(NamedTuple):
    """The outbox at a glance: undelivered and dead messages, and how long the oldest due one has waited."""

    pending: int
    dead: int
    oldest_due_age: float  # seconds since the oldest due, undelivered message was written; 0 when none


def backlog(session: Session, now: datetime | None = None) -> Backlog:
    """The outbox's :class:`Backlog` now (three indexed queries; the delivered rows are not counted)."""
    now = now or utcnow()
    undelivered = OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DELIVERING])
    count = select(func.count()).select_from(OutboxMessage)
    pending = session.scalar(count.where(undelivered)) or 0
    dead = session.scalar(count.where(OutboxMessage.status == OutboxStatus.DEAD)) or 0
    oldest = session.scalar(
        select(func.min(OutboxMessage.created_at)).where(undelivered, OutboxMessage.next_attempt_at <= now)
    )
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return Backlog(int(pending), int(dead), age)


def dead_letters(session: Session, *, limit: int = 100) -> list[OutboxMessage]:
    """Messages that were given up on, oldest first."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.DEAD)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def retry_dead(
    session: Session, message_id: str, *, deadline: timedelta = DEFAULT_DEADLINE, now: datetime | None = None
) -> None:
    """Put a dead message back in the queue, due now, with a new deadline (in the caller's transaction)."""
    now = now or utcnow()
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise LookupError(f"no outbox message {message_id}")
    if message.status != OutboxStatus.DEAD:
        raise ValueError(f"outbox message {message_id} is {message.status}, not dead")
    message.status = OutboxStatus.PENDING
    message.next_attempt_at = now
    message.deadline_at = now + deadline
    message.lease_until = None
    session.flush()


def attempts(session: Session, message_id: str) -> list[OutboxAttempt]:
    """The delivery attempts of a message, first to last."""
    stmt = select(OutboxAttempt).where(OutboxAttempt.message_id == message_id).order_by(OutboxAttempt.number)
    return list(session.scalars(stmt))


def purge_delivered(session: Session, *, older_than: datetime) -> int:
    """Delete messages delivered before ``older_than`` (and their attempts); the number deleted."""
    old = select(OutboxMessage.id).where(
        OutboxMessage.status == OutboxStatus.DELIVERED, OutboxMessage.delivered_at < older_than
    )
    quiet = {"synchronize_session": False}
    session.execute(
        delete(OutboxAttempt).where(OutboxAttempt.message_id.in_(old.scalar_subquery())),
        execution_options=quiet,
    )
    result = session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.DELIVERED, OutboxMessage.delivered_at < older_than
        ),
        execution_options=quiet,
    )
    return int(getattr(result, "rowcount", 0) or 0)


_earlier = aliased(OutboxMessage, name="earlier")
# No earlier message of the same aggregate is still undelivered (pending, in delivery or dead).
_HEAD_OF_LINE = or_(
    OutboxMessage.aggregate.is_(None),
    ~exists().where(
        _earlier.aggregate == OutboxMessage.aggregate,
        literal_column(f"earlier.{_NOT_DELIVERED}"),
        _earlier.id < OutboxMessage.id,
    ),
)


def _expired_query(
    now: datetime,
    limit: int,
    exclude: Sequence[str],
    busy: Sequence[str],
    kinds: Collection[str] | None = None,
) -> Select[str, str]:
    """Messages whose delivery lease ran out: their dispatcher died or hung."""
    pick = select(OutboxMessage.id, OutboxMessage.destination).where(
        OutboxMessage.status == OutboxStatus.DELIVERING, OutboxMessage.lease_until <= now
    )
    if exclude:
        pick = pick.where(OutboxMessage.id.not_in(exclude))
    if busy:
        pick = pick.where(OutboxMessage.destination.not_in(busy))
    if kinds is not None:
        pick = pick.where(OutboxMessage.kind.in_(sorted(kinds)))
    return pick.order_by(OutboxMessage.lease_until).limit(limit)


def claim_query(
    now: datetime,
    limit: int,
    exclude: Sequence[str] = (),
    busy: Sequence[str] = (),
    kinds: Collection[str] | None = None,
) -> Select[str, str]:
    """The SELECT that picks up to ``limit`` due pending messages at the head of their aggregate's line
    (of ``kinds`` only, when given)."""
    pick = select(OutboxMessage.id, OutboxMessage.destination).where(
        OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now, _HEAD_OF_LINE
    )
    if exclude:
        pick = pick.where(OutboxMessage.id.not_in(exclude))
    if busy:
        pick = pick.where(OutboxMessage.destination.not_in(busy))
    if kinds is not None:
        pick = pick.where(OutboxMessage.kind.in_(sorted(kinds)))
    return pick.order_by(OutboxMessage.next_attempt_at).limit(limit)


_TABLE = cast(Table, OutboxMessage.__table__)  # the dispatcher works on Core tables: no ORM per row
_ATTEMPTS = cast(Table, OutboxAttempt.__table__)
_COLUMNS = tuple(_TABLE.columns)


def _detached(row: Mapping[Any, Any]) -> OutboxMessage:
    """A plain OutboxMessage for ``deliver()``, made from a RETURNING row; it belongs to no session."""
    message = OutboxMessage()
    for column in _COLUMNS:
        setattr(message, column.key, row[column.key])
    return message


@dataclass(frozen=True)
class _Claim:
    message: OutboxMessage
    attempt_id: str


@dataclass(frozen=True)
class _Outcome:
    claim: _Claim
    error: str | None
    permanent: bool


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


Chore = Callable[[datetime], None]


class Dispatcher:
    """Delivers due outbox messages through ``deliver``; run several, in threads or processes.

    ``concurrency`` deliveries run at once (threads; SM2 and the network release the GIL), at most
    ``per_destination`` of them to one destination, so a counterparty that hangs holds only its share of
    the workers and the others' notices keep flowing. ``chores`` (housekeeping such as purging expired
    replay records) run every ``chore_interval`` in :meth:`run_forever`. With ``kinds``, only messages of
    those kinds are claimed: the rest wait for a process that can deliver them.
    """

    def __init__(
        self,
        session_factory: Callable[[], Session],
        deliver: Callable[[OutboxMessage], None],
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        concurrency: int = 1,
        per_destination: int | None = None,
        chores: Sequence[Chore] = (),
        chore_interval: timedelta = timedelta(minutes=1),
        gather: float = 0.005,
        kinds: Collection[str] | None = None,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._session_factory = session_factory
        self._deliver = deliver
        # Only the kinds this process can deliver are claimed: another kind stays pending for a process that
        # hosts its role, instead of being buried as a dead letter here.
        self._kinds = None if kinds is None else frozenset(kinds)
        self._policy = policy or RetryPolicy()
        self._lease = lease
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self._concurrency = concurrency
        self._per_destination = max(1, per_destination or max(1, concurrency // 2))
        self._chores = tuple(chores)
        self._gather = gather
        self._chore_interval = chore_interval
        # After a claim found less than it could take, the next waits for this many deliveries to end:
        # claims that come back empty cost a transaction each.
        self._claim_batch = max(1, self._per_destination // 2)

    # -- driving ------------------------------------------------------------------------------------------

    def run_once(self, limit: int = 50) -> int:
        """Attempt up to ``limit`` due messages, each at most once; the number attempted."""
        seen: list[str] = []
        pool = ThreadPoolExecutor(self._concurrency, "outbox") if self._concurrency > 1 else None
        try:
            while len(seen) < limit:
                claims = self._claim(min(limit - len(seen), self._concurrency), seen, {})
                if not claims:
                    break
                seen.extend(c.message.id for c in claims)
                if pool is None:
                    outcomes = [self._attempt(c) for c in claims]
                else:
                    outcomes = [f.result() for f in [pool.submit(self._attempt, c) for c in claims]]
                self._record(outcomes)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        return len(seen)

    def run_forever(self, stop_event: threading.Event, idle_sleep: float = 1.0, limit: int = 50) -> None:
        """Dispatch until ``stop_event`` is set, resting ``idle_sleep`` seconds when nothing is due.

        Deliveries run on a pool of ``concurrency`` threads; the claims and the outcomes are written by this
        thread, in batches.
        """
        done: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        in_flight: Counter[str] = Counter()
        pool = ThreadPoolExecutor(self._concurrency, "outbox")
        next_chores = next_expiry = self._clock()

        def finished(future: Future[_Outcome]) -> None:
            exc = future.exception()
            if exc is None:
                done.put(future.result())
            else:  # _attempt catches Exception; a BaseException still frees the slot, lease left to expire
                log.error("outbox delivery thread ended abnormally: %r", exc)

        settled = self._claim_batch  # outcomes settled since a claim found less than it asked for
        try:
            while not stop_event.is_set():
                outcomes = _drain(done)
                if outcomes:
                    self._settle(outcomes, in_flight)
                    settled += len(outcomes)
                claimed: list[_Claim] = []
                busy = sum(in_flight.values())
                asked = min(self._concurrency - busy, limit)
                claiming = asked > 0 and (busy == 0 or settled >= self._claim_batch)
                if claiming:
                    try:
                        # Leases expire only when a dispatcher died mid-delivery: look now and then.
                        expired = self._clock() >= next_expiry
                        if expired:
                            next_expiry = self._clock() + min(self._lease / 4, timedelta(seconds=5))
                        claimed = self._claim(asked, (), in_flight, expired)
                    except Exception:
                        # A database outage must not kill the worker; leases make any half-done claim safe.
                        log.exception("outbox claim failed; trying again in %s s", idle_sleep)
                        stop_event.wait(idle_sleep)
                        continue
                    for claim in claimed:
                        in_flight[claim.message.destination] += 1
                        pool.submit(self._attempt, claim).add_done_callback(finished)
                    if len(claimed) == asked:
                        continue  # more may be due right now
                    settled = 0
                if self._chores and self._clock() >= next_chores:
                    self._run_chores()
                    next_chores = self._clock() + self._chore_interval
                rested = self._rest(done, in_flight, stop_event, idle_sleep)
                # Nothing ended within the idle time (a destination that hangs holds its share): look
                # for other work anyway.
                settled = settled + rested if rested else self._claim_batch
        finally:
            pool.shutdown(wait=True)
            outcomes = _drain(done)
            if outcomes:
                self._settle(outcomes, in_flight)

    def _rest(
        self,
        done: queue.SimpleQueue[_Outcome],
        in_flight: Counter[str],
        stop_event: threading.Event,
        idle_sleep: float,
    ) -> int:
        """Wait for deliveries to finish, or the idle time; the number of outcomes settled.

        Outcomes that end close together are recorded in one transaction: after the first, the others
        in flight get ``gather`` seconds to join it.
        """
        if not sum(in_flight.values()):
            stop_event.wait(idle_sleep)
            return 0
        try:
            first = done.get(timeout=idle_sleep)
        except queue.Empty:
            return 0
        outcomes = [first]
        deadline = time.monotonic() + self._gather
        while len(outcomes) < sum(in_flight.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                outcomes.append(done.get(timeout=left))
            except queue.Empty:
                break
        self._settle(outcomes, in_flight)
        return len(outcomes)

    def _settle(self, outcomes: list[_Outcome], in_flight: Counter[str]) -> None:
        for outcome in outcomes:
            destination = outcome.claim.message.destination
            in_flight[destination] -= 1
            if in_flight[destination] <= 0:
                del in_flight[destination]
        try:
            self._record(outcomes)
        except Exception:
            # Unrecorded outcomes keep their lease; when it runs out the messages go again (at least once).
            log.exception("outbox: recording %d outcomes failed", len(outcomes))

    def _run_chores(self) -> None:
        now = self._clock()
        for chore in self._chores:
            try:
                chore(now)
            except Exception:
                log.exception("outbox chore %s failed", getattr(chore, "__name__", chore))

    # -- the three steps ------------------------------------------------------------------------------------

    def _pick(
        self,
        session: Session,
        now: datetime,
        limit: int,
        exclude: Sequence[str],
        in_flight: Mapping[str, int],
        postgres: bool,
        expired: bool,
    ) -> tuple[list[str], set[str]]:
        """Ids of due messages, expired leases first (their dispatcher died), within each destination's room."""
        taken: Counter[str] = Counter(in_flight)
        ids: list[str] = []
        reclaimed: set[str] = set()
        queries: list[
            Callable[[datetime, int, Sequence[str], Sequence[str], Collection[str] | None], Select[str, str]]
        ]
        queries = [claim_query]
        if expired:
            queries.insert(0, _expired_query)
        for query in queries:
            for _ in range(3):  # a round that had to skip a full destination looks once more
                want = limit - len(ids)
                if want <= 0:
                    return ids, reclaimed
                busy = sorted(d for d, n in taken.items() if n >= self._per_destination)
                pick = query(now, want, [*exclude, *ids], busy, self._kinds)
                if postgres:
                    # Lock the rows and skip those other workers hold. On SQLite the transaction holds the
                    # database-wide write lock from BEGIN, so the SELECT and the UPDATE after it are atomic.
                    pick = pick.with_for_update(skip_locked=True)
                skipped = False
                for message_id, destination in session.connection().execute(pick):
                    if taken[destination] >= self._per_destination:
                        skipped = True
                        continue
                    taken[destination] += 1
                    ids.append(message_id)
                    if query is _expired_query:
                        reclaimed.add(message_id)
                if not skipped:
                    break
        return ids, reclaimed

    def _claim(
        self, limit: int, exclude: Sequence[str], in_flight: Mapping[str, int], expired: bool = True
    ) -> list[_Claim]:
        """Take up to ``limit`` due messages under a lease, in a transaction that commits before delivery;
        no destination gets more than ``per_destination`` counting those already ``in_flight``.
        ``expired``: look for messages whose lease ran out too.
        """
        now = self._clock()
        with transaction(self._session_factory) as session:
            postgres = session.get_bind().dialect.name == "postgresql"
            ids, reclaimed = self._pick(session, now, limit, exclude, in_flight, postgres, expired)
            if not ids:
                return []
            # The guard re-checks that each message is still due, so two workers never both win one.
            taken = session.connection().execute(
                update(_TABLE)
                .where(
                    OutboxMessage.id.in_(ids),
                    or_(
                        (OutboxMessage.status == OutboxStatus.PENDING)
                        & (OutboxMessage.next_attempt_at <= now),
                        (OutboxMessage.status == OutboxStatus.DELIVERING)
                        & (OutboxMessage.lease_until <= now),
                    ),
                )
                .values(
                    status=OutboxStatus.DELIVERING,
                    lease_until=now + self._lease,
                    attempts=OutboxMessage.attempts + 1,
                )
                .returning(*_COLUMNS)
                .execution_options(synchronize_session=False)
            )
            messages = {row.id: _detached(row._mapping) for row in taken}
            if not messages:
                return []
            stale = [mid for mid in messages if mid in reclaimed]
            if stale:
                # An attempt still open here belonged to a dispatcher whose lease ran out.
                session.connection().execute(
                    update(_ATTEMPTS)
                    .where(_ATTEMPTS.c.message_id.in_(stale), _ATTEMPTS.c.finished_at.is_(None))
                    .values(error=LEASE_EXPIRED_NOTE)
                    .execution_options(synchronize_session=False)
                )
            claims = [_Claim(messages[mid], new_id()) for mid in ids if mid in messages]
            session.connection().execute(
                insert(_ATTEMPTS),
                [
                    {
                        "id": c.attempt_id,
                        "message_id": c.message.id,
                        "number": c.message.attempts,
                        "started_at": now,
                        "finished_at": None,
                        "ok": None,
                        "error": None,
                    }
                    for c in claims
                ],
            )
            return claims

    def _attempt(self, claim: _Claim) -> _Outcome:
        message = claim.message
        # The lines of this delivery (and any message it enqueues) carry the id of the request behind it.
        token = REQUEST_ID.set(message.request_id)
        started = time.perf_counter()
        fields: dict[str, Any] = {"outbox_id": message.id, "kind": message.kind, "attempt": message.attempts}
        fields["destination"] = message.destination
        try:
            self._deliver(message)
        except PermanentFailure as exc:
            error = _describe(exc)
            log.warning(
                "outbox %s %s to %s: refused for good: %s",
                message.kind,
                message.id,
                message.destination,
                error,
                extra={"fields": {**fields, "outcome": "refused"}},
            )
            return _Outcome(claim, error, permanent=True)
        except Exception as exc:
            error = _describe(exc)
            log.warning(
                "outbox %s %s to %s: attempt %d failed: %s",
                message.kind,
                message.id,
                message.destination,
                message.attempts,
                error,
                extra={"fields": {**fields, "outcome": "failed"}},
            )
            return _Outcome(claim, error, permanent=False)
        else:
            log.info(
                "outbox %s %s to %s delivered",
                message.kind,
                message.id,
                message.destination,
                extra={"fields": {**fields, "outcome": "delivered"}},
            )
            return _Outcome(claim, None, permanent=False)
        finally:
            metrics.DELIVERY_LATENCY.labels(message.kind).observe(time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _record(self, outcomes: Sequence[_Outcome]) -> None:
        if not outcomes:
            return
        now = self._clock()
        delivered = [o for o in outcomes if o.error is None]
        failed = [o for o in outcomes if o.error is not None]
        with transaction(self._session_factory) as session:
            session.connection().execute(
                update(_ATTEMPTS)
                .where(_ATTEMPTS.c.id == bindparam("attempt_id"))
                .values(finished_at=bindparam("finished"), ok=bindparam("succeeded"), error=bindparam("err")),
                [
                    {
                        "attempt_id": o.claim.attempt_id,
                        "finished": now,
                        "succeeded": o.error is None,
                        "err": o.error,
                    }
                    for o in outcomes
                ],
            )
            for outcome in delivered:
                metrics.DELIVERIES.labels(outcome.claim.message.kind, "delivered").inc()
            if delivered:
                # A success stands even if our lease ran out meanwhile: the receiver has the message.
                session.connection().execute(
                    update(_TABLE)
                    .where(
                        _TABLE.c.id == bindparam("message_id"),
                        _TABLE.c.status != OutboxStatus.DELIVERED,
                    )
                    .values(status=OutboxStatus.DELIVERED, delivered_at=now, lease_until=None),
                    [{"message_id": o.claim.message.id} for o in delivered],
                )
            for outcome in failed:
                self._record_failure(session, outcome, now)

    def _record_failure(self, session: Session, outcome: _Outcome, now: datetime) -> None:
        message = outcome.claim.message
        values: dict[str, Any] = {"lease_until": None, "last_error": outcome.error}
        if outcome.permanent or now >= message.deadline_at:
            values["status"] = OutboxStatus.DEAD
            metrics.DELIVERIES.labels(message.kind, "dead").inc()
            log.error(
                "outbox %s %s to %s is dead: %s",
                message.kind,
                message.id,
                message.destination,
                outcome.error,
                extra={"request_id": message.request_id, "fields": {"outbox_id": message.id}},
            )
        else:
            metrics.DELIVERIES.labels(message.kind, "retry").inc()
            retry_at = now + self._policy.delay(message.attempts, self._rng)
            values["status"] = OutboxStatus.PENDING
            # One last attempt at the deadline rather than giving up early.
            values["next_attempt_at"] = min(retry_at, message.deadline_at)
        # A failure only counts if the claim is still ours (attempts is the fencing token): after our
        # lease expired another dispatcher may have taken the message over.
        session.connection().execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == message.id,
                _TABLE.c.status == OutboxStatus.DELIVERING,
                _TABLE.c.attempts == message.attempts,
            )
            .values(values)
        )


def _drain(done: queue.SimpleQueue[_Outcome]) -> list[_Outcome]:
    items: list[_Outcome] = []
    while True:
        try:
            items.append(done.get_nowait())
        except queue.Empty:
            return items
