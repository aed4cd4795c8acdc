"""The transactional outbox: notices are written in the caller's transaction and delivered at least once.

``enqueue`` only inserts into the caller's session, so a state change and the notice it causes commit
together or not at all. A ``Dispatcher`` claims due messages in short transactions (PostgreSQL:
``FOR UPDATE SKIP LOCKED``, so any number of workers compete safely), delivers each outside any
transaction, and records the attempt: delivered, retried later with exponential backoff and jitter, or
dead once past its deadline. A claim is a lease; a worker that dies mid-delivery loses it when it expires
and another worker delivers the message again, so nothing is lost (receivers must be idempotent).
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from baohan.adapters.db.engine import Base, JSONText, UTCDateTime, transaction, utcnow
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


class _StatusType(TypeDecorator[OutboxStatus]):
    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else OutboxStatus(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> OutboxStatus | None:
        return None if value is None else OutboxStatus(value)


class OutboxMessage(Base):
    """One notice to one counterparty, e.g. an ELY102 result to a platform."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivering', 'delivered', 'dead')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # The two ways a message becomes due: scheduled retry time, or an expired lease.
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_messages_status_lease_until", "status", "lease_until"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    destination: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONText)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[OutboxStatus] = mapped_column(_StatusType)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

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
    deadline: timedelta = DEFAULT_DEADLINE,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The row of a new pending message; for :func:`enqueue` and for batched inserts alike."""
    if not destination or not kind:
        raise ValueError("an outbox message needs a destination and a kind")
    if deadline <= timedelta(0):
        raise ValueError("deadline must be positive")
    now = now or utcnow()
    return {
        "id": new_id(),
        "destination": destination,
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": None,
        "deadline_at": now + deadline,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
    }


def enqueue(
    session: Session,
    *,
    destination: str,
    kind: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    deadline: timedelta = DEFAULT_DEADLINE,
    now: datetime | None = None,
) -> str:
    """Add a message to the caller's transaction and return its id.

    With a ``dedupe_key`` already used, nothing is added and the existing message's id is returned.
    """
    values = message_values(
        destination=destination, kind=kind, payload=payload, dedupe_key=dedupe_key, deadline=deadline, now=now
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


@dataclass(frozen=True)
class _Claim:
    message: OutboxMessage
    attempt_id: str


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


class Dispatcher:
    """Delivers due outbox messages through ``deliver``; run several in parallel on PostgreSQL."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        deliver: Callable[[OutboxMessage], None],
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self._session_factory = session_factory
        self._deliver = deliver
        self._policy = policy or RetryPolicy()
        self._lease = lease
        self._clock = clock
        self._rng = rng or random.SystemRandom()

    def run_once(self, limit: int = 50) -> int:
        """Attempt up to ``limit`` due messages, each at most once; the number attempted."""
        seen: list[str] = []
        while len(seen) < limit:
            claim = self._claim(seen)
            if claim is None:
                break
            seen.append(claim.message.id)
            self._attempt(claim)
        return len(seen)

    def run_forever(self, stop_event: threading.Event, idle_sleep: float = 1.0, limit: int = 50) -> None:
        """Dispatch until ``stop_event`` is set, resting ``idle_sleep`` seconds when nothing is due."""
        while not stop_event.is_set():
            try:
                done = self.run_once(limit)
            except Exception:
                # A database outage must not kill the worker; leases make any half-done claim safe.
                log.exception("outbox dispatch failed; trying again in %s s", idle_sleep)
                done = 0
            if done < limit:
                stop_event.wait(idle_sleep)

    def _due(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            and_(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now),
            and_(OutboxMessage.status == OutboxStatus.DELIVERING, OutboxMessage.lease_until <= now),
        )

    def _claim(self, exclude: list[str]) -> _Claim | None:
        """Take one due message under a lease, in a transaction that commits before any delivery."""
        now = self._clock()
        # One message per claim so the lease covers exactly one delivery, however slow the others are.
        pick = select(OutboxMessage.id).where(self._due(now))
        if exclude:
            pick = pick.where(OutboxMessage.id.not_in(exclude))
        pick = pick.order_by(OutboxMessage.next_attempt_at).limit(1)
        take = update(OutboxMessage).values(
            status=OutboxStatus.DELIVERING,
            lease_until=now + self._lease,
            attempts=OutboxMessage.attempts + 1,
        )
        with transaction(self._session_factory) as session:
            if session.get_bind().dialect.name == "postgresql":
                # Lock the row first and skip rows other workers hold. Not as a subquery of the UPDATE:
                # PostgreSQL may re-run such a subquery per outer row and so update more than LIMIT rows.
                picked = session.scalars(pick.with_for_update(skip_locked=True)).first()
                if picked is None:
                    return None
                take = take.where(OutboxMessage.id == picked)
            else:
                # SQLite: one UPDATE under its database-wide write lock is atomic; the subquery runs once.
                take = take.where(OutboxMessage.id.in_(pick))
            # The guard re-checks that the message is still due, so two workers never both win it.
            claimed = session.execute(
                take.where(self._due(now))
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            ).scalar_one_or_none()
            if claimed is None:
                return None
            message = session.get_one(OutboxMessage, claimed, populate_existing=True)
            # An attempt still open here belonged to a dispatcher whose lease ran out.
            session.execute(
                update(OutboxAttempt)
                .where(OutboxAttempt.message_id == message.id, OutboxAttempt.finished_at.is_(None))
                .values(error=LEASE_EXPIRED_NOTE)
                .execution_options(synchronize_session=False)
            )
            attempt = OutboxAttempt(
                id=new_id(), message_id=message.id, number=message.attempts, started_at=now
            )
            session.add(attempt)
            session.flush()
            session.expunge(message)  # deliver() gets a plain detached object, usable after the commit
            return _Claim(message=message, attempt_id=attempt.id)

    def _attempt(self, claim: _Claim) -> None:
        message = claim.message
        try:
            self._deliver(message)
        except Exception as exc:
            error: str | None = _describe(exc)
            log.warning(
                "outbox %s %s to %s: attempt %d failed: %s",
                message.kind,
                message.id,
                message.destination,
                message.attempts,
                error,
            )
        else:
            error = None
        self._record(claim, error)

    def _record(self, claim: _Claim, error: str | None) -> None:
        message = claim.message
        now = self._clock()
        with transaction(self._session_factory) as session:
            session.execute(
                update(OutboxAttempt)
                .where(OutboxAttempt.id == claim.attempt_id)
                .values(finished_at=now, ok=error is None, error=error)
                .execution_options(synchronize_session=False)
            )
            if error is None:
                # A success stands even if our lease ran out meanwhile: the receiver has the message.
                outcome = (
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message.id, OutboxMessage.status != OutboxStatus.DELIVERED)
                    .values(status=OutboxStatus.DELIVERED, delivered_at=now, lease_until=None)
                )
            else:
                values: dict[str, Any] = {"lease_until": None, "last_error": error}
                if now >= message.deadline_at:
                    values["status"] = OutboxStatus.DEAD
                    log.error(
                        "outbox %s %s to %s is dead: %s", message.kind, message.id, message.destination, error
                    )
                else:
                    retry_at = now + self._policy.delay(message.attempts, self._rng)
                    values["status"] = OutboxStatus.PENDING
                    # One last attempt at the deadline rather than giving up early.
                    values["next_attempt_at"] = min(retry_at, message.deadline_at)
                # A failure only counts if the claim is still ours (attempts is the fencing token): after
                # our lease expired another dispatcher may have taken the message over.
                outcome = (
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == message.id,
                        OutboxMessage.status == OutboxStatus.DELIVERING,
                        OutboxMessage.attempts == message.attempts,
                    )
                    .values(values)
                )
            session.execute(outcome.execution_options(synchronize_session=False))
