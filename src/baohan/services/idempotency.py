"""Idempotency, protocol-neutral: a repeated request gets the answer already given and causes nothing new.

One mechanism for every protocol, keyed by (protocol, counterparty, interface, key). The same key with
other content is refused (:class:`KeyReused`). Large answer values are not copied into the record: a
handler names the fields that are Base64 of a stored file, and the record keeps ``{"$file": id}``, read
back from the file store on replay. Records expire after a retention period and are purged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.db.tables import IdempotencyRecord
from baohan.adapters.files import FileStore
from baohan.services.filerefs import file_ref, resolve_refs

DEFAULT_RETENTION = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Key:
    """What makes two requests the same request."""

    protocol: str
    counterparty: str
    interface: str
    value: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """The answer given the first time, as the protocol will send it again."""

    code: str
    message: str
    data: dict[str, Any] | None


class KeyReused(Exception):
    """The key was used before for a request with other content."""


class Outcome(Protocol):
    """What a handler answers, as the record keeps it (a protocol's own answer type fits)."""

    @property
    def code(self) -> str:
        """The protocol's result code."""

    @property
    def message(self) -> str:
        """The protocol's message."""

    @property
    def data(self) -> dict[str, Any] | None:
        """The answer's data."""

    @property
    def stored(self) -> Sequence[tuple[str, str]]:
        """Fields of ``data`` that are Base64 of a stored file, with the file's id."""


OutcomeT = TypeVar("OutcomeT", bound=Outcome)
_ATTEMPTS = 2  # a request that lost a race to a twin runs once more and finds what the winner did


class Replays:
    """Finds and records answers; ``retention`` is how long a record is kept."""

    def __init__(self, files: FileStore, retention: timedelta = DEFAULT_RETENTION) -> None:
        if retention <= timedelta(0):
            raise ValueError("the replay retention must be positive")
        self._files = files
        self.retention = retention

    def find(self, session: Session, key: Key, fingerprint: str) -> Recorded | None:
        """The answer recorded under ``key``; KeyReused when it was given to other content."""
        row = session.get(IdempotencyRecord, (key.protocol, key.counterparty, key.interface, key.value))
        if row is None:
            return None
        return self.answer(session, row.fingerprint, row.code, row.message, row.data, fingerprint)

    def answer(
        self,
        session: Session,
        recorded_fingerprint: str,
        code: str,
        message: str,
        data: dict[str, Any] | None,
        fingerprint: str,
    ) -> Recorded:
        """A stored record's answer for a request with ``fingerprint`` (for lookups made in bulk)."""
        if recorded_fingerprint != fingerprint:
            raise KeyReused("was already used for a different request")
        return Recorded(code, message, self._resolve(session, data))

    def row(
        self,
        key: Key,
        fingerprint: str,
        code: str,
        message: str,
        data: dict[str, Any] | None,
        *,
        now: datetime,
        stored: Sequence[tuple[str, str]] = (),
    ) -> dict[str, Any]:
        """The record of an answer, as a row for a bulk insert."""
        return {
            "protocol": key.protocol,
            "counterparty": key.counterparty,
            "interface": key.interface,
            "key": key.value,
            "fingerprint": fingerprint,
            "code": code,
            "message": message[:200],
            "data": _referenced(data, stored),
            "created_at": now,
            "expires_at": now + self.retention,
        }

    def record(
        self,
        session: Session,
        key: Key,
        fingerprint: str,
        code: str,
        message: str,
        data: dict[str, Any] | None,
        *,
        stored: Sequence[tuple[str, str]] = (),
        now: datetime | None = None,
    ) -> None:
        """Remember the answer in the caller's transaction, next to the effects it describes.

        ``stored`` names fields of ``data`` that are Base64 of a stored file, with the file's id.
        """
        values = self.row(key, fingerprint, code, message, data, now=now or utcnow(), stored=stored)
        session.add(IdempotencyRecord(**values))

    def transact(
        self, sessions: Callable[[], Session], key: Key, fingerprint: str, work: Callable[[Session], OutcomeT]
    ) -> OutcomeT | Recorded:
        """The answer recorded under ``key``, or ``work``'s, recorded with its effects in one transaction.

        A concurrent twin is answered as the winner was: when the same key commits first (a unique
        violation) the recorded answer is returned; when a twin under another key changed the same rows
        first (a unique key, or a version), ``work`` runs once more and sees what the twin did.
        KeyReused when the key was used for other content.
        """
        attempt = 1
        while True:
            try:
                with transaction(sessions) as session:
                    prior = self.find(session, key, fingerprint)
                    if prior is not None:
                        return prior
                    outcome = work(session)
                    self.record(
                        session,
                        key,
                        fingerprint,
                        str(outcome.code),
                        outcome.message,
                        outcome.data,
                        stored=outcome.stored,
                    )
                return outcome
            except (IntegrityError, StaleDataError):
                with sessions() as session:
                    prior = self.find(session, key, fingerprint)
                if prior is not None:
                    return prior
                if attempt == _ATTEMPTS:
                    raise
                attempt += 1

    def _resolve(self, session: Session, data: dict[str, Any] | None) -> dict[str, Any] | None:
        return resolve_refs(session, self._files, data) if data else data


def _referenced(data: dict[str, Any] | None, stored: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    if data is None or not stored:
        return data
    out = dict(data)
    for name, file_id in stored:
        if name not in out:
            raise ValueError(f"stored field {name!r} is not in the answer")
        out[name] = file_ref(file_id)
    return out


def purge_expired(session: Session, now: datetime) -> int:
    """Delete the records whose retention ran out; the number deleted."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)
