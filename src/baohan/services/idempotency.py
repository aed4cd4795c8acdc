"""Idempotency, protocol-neutral: a repeated request gets the answer already given and causes nothing new.

One mechanism for every protocol, keyed by (protocol, counterparty, interface, key). The same key with
other content is refused (:class:`KeyReused`). Large answer values are not copied into the record: a
handler names the fields that are Base64 of a stored file, and the record keeps ``{"$file": id}``, read
back from the file store on replay. Records expire after a retention period and are purged.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from baohan.adapters.db.engine import utcnow
from baohan.adapters.db.tables import IdempotencyRecord
from baohan.adapters.files import FileStore

DEFAULT_RETENTION = timedelta(days=30)
FILE_REF = "$file"


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

    def _resolve(self, session: Session, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if not data:
            return data
        out = dict(data)
        for name, value in data.items():
            if isinstance(value, Mapping) and FILE_REF in value:
                out[name] = base64.b64encode(self._files.get(session, str(value[FILE_REF]))).decode("ascii")
        return out


def _referenced(data: dict[str, Any] | None, stored: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    if data is None or not stored:
        return data
    out = dict(data)
    for name, file_id in stored:
        if name not in out:
            raise ValueError(f"stored field {name!r} is not in the answer")
        out[name] = {FILE_REF: file_id}
    return out


def purge_expired(session: Session, now: datetime) -> int:
    """Delete the records whose retention ran out; the number deleted."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < now),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def count(session: Session, protocol: str) -> int:
    """How many records ``protocol`` holds (for operators and tests)."""
    from sqlalchemy import func

    return int(
        session.scalar(
            select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.protocol == protocol)
        )
        or 0
    )
