"""File storage behind one interface: in the database (the default) or in a directory, whole or streamed.

Both stores take and give files as iterables of chunks, so a file of any size passes through in constant
memory (at most three chunks: the reader's last, one held back, the next), and both check what they read against the SM3 recorded when it was stored.
"""

from __future__ import annotations

import hashlib
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, Protocol

from sqlalchemy import delete, event, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from baohan.adapters.db.tables import StoredFile, StoredFileChunk
from baohan.domain.ids import new_id
from baohan.gm import SM3Hasher
from baohan.protocols.chunks import rechunk

CHUNK_SIZE = 1 << 20  # the tender protocol's slice: 1 MiB
_HASH_ASIDE_FROM = 256 * 1024  # a chunk this large is worth a thread hand-off
NAME_LIMIT = 255  # stored_files.name
log = logging.getLogger(__name__)


class DigestMismatch(ValueError):
    """Bytes that do not match the digest or size they were stored with, or were announced with."""


@dataclass(frozen=True)
class FileInfo:
    """What is recorded about a stored file; ``md5`` is None for files stored before revision 0008."""

    id: str
    name: str
    size: int
    sm3: str
    md5: str | None


class FileStore(Protocol):
    """Stores bytes under a new id recorded in the caller's transaction."""

    def put(self, session: Session, name: str, content: bytes) -> str:
        """Keep ``content`` and return its id."""

    def get(self, session: Session, file_id: str) -> bytes:
        """The bytes stored under ``file_id``; KeyError if none, ValueError if they no longer match."""

    def put_stream(
        self,
        session: Session,
        name: str,
        chunks: Iterable[bytes],
        *,
        sm3: str | None = None,
        md5: str | None = None,
        size: int | None = None,
    ) -> str:
        """Keep the concatenation of ``chunks`` and return its id; DigestMismatch (nothing kept) when an
        expected ``sm3``, ``md5`` (hex, any case) or ``size`` is given and differs."""

    def open_stream(self, session: Session, file_id: str) -> Iterator[bytes]:
        """The stored bytes in chunks; KeyError at once if none. Bytes that no longer match their SM3
        raise DigestMismatch (a ValueError) instead of the last chunk: a reader that got every chunk got
        the file as stored."""

    def info(self, session: Session, file_id: str) -> FileInfo:
        """Name, size and digests of ``file_id``; KeyError if none."""


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


def _sm3_hasher() -> _Hasher:
    # hashlib's SM3 (OpenSSL too, where its build has it) gives up the GIL for inputs of 2 KiB or more,
    # so it can run beside a decryption that holds it; cryptography's keeps the GIL.
    if "sm3" in hashlib.algorithms_available:
        return hashlib.new("sm3")
    return SM3Hasher()


class _Digests:
    """SM3, MD5 and size of bytes fed in pieces."""

    def __init__(self) -> None:
        self._sm3: _Hasher = _sm3_hasher()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._sm3.update(data)
        self._md5.update(data)
        self.size += len(data)

    def finish(self, *, sm3: str | None, md5: str | None, size: int | None) -> tuple[str, str]:
        """The SM3 and MD5 hex digests, once checked against the expected ones."""
        sm3_hex, md5_hex = self._sm3.hexdigest(), self._md5.hexdigest()
        check_expected(FileInfo("", "", self.size, sm3_hex, md5_hex), sm3=sm3, md5=md5, size=size)
        return sm3_hex, md5_hex


def _digested(chunks: Iterable[bytes], digests: _Digests) -> Iterator[bytes]:
    """``chunks`` again, each hashed into ``digests`` by a worker thread while the caller stores it and
    produces the next (decrypting it, say): hashlib releases the GIL, so on two cores the hashing costs no
    time (0006). Every chunk is hashed once the iteration ends; small files are hashed inline."""
    pool: ThreadPoolExecutor | None = None
    pending: Future[None] | None = None
    try:
        for chunk in chunks:
            if pending is not None:
                pending.result()
            if pool is None and len(chunk) < _HASH_ASIDE_FROM:
                digests.update(chunk)
            else:
                pool = pool or ThreadPoolExecutor(1, thread_name_prefix="file-digest")
                pending = pool.submit(digests.update, chunk)
            yield chunk
        if pending is not None:
            pending.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


def check_expected(info: FileInfo, *, sm3: str | None, md5: str | None, size: int | None) -> None:
    """DigestMismatch naming the first of the given expectations (hex in any case) that ``info`` fails."""
    for field, expected, actual in (
        ("size", size, info.size),
        ("sm3", sm3, info.sm3),
        ("md5", md5, info.md5),
    ):
        if expected is not None and str(expected).lower() != str(actual):
            raise DigestMismatch(f"{field}: expected {expected}, the file has {actual}")


def check_name(name: str) -> None:
    """ValueError unless ``name`` fits ``stored_files.name``."""
    if not name or len(name) > NAME_LIMIT:
        raise ValueError(f"name: a file name of 1 to {NAME_LIMIT} characters, got {len(name)}")


def _verified(file_id: str, parts: Iterable[bytes], size: int, sm3: str) -> Iterator[bytes]:
    # One chunk is held back until the next arrives, and the last until the digest is checked.
    hasher, seen, held = SM3Hasher(), 0, None
    for part in parts:
        hasher.update(part)
        seen += len(part)
        if held is not None:
            yield held
        held = part
    if seen != size or hasher.hexdigest() != sm3:
        raise DigestMismatch(f"stored file {file_id} does not match its digest")
    if held is not None:
        yield held


def _info(session: Session, file_id: str) -> FileInfo:
    row = session.execute(
        select(StoredFile.name, StoredFile.size, StoredFile.sm3, StoredFile.md5).where(
            StoredFile.id == file_id
        )
    ).one_or_none()
    if row is None:
        raise KeyError(f"no stored file {file_id}")
    return FileInfo(file_id, row.name, row.size, row.sm3, row.md5)


class _Streaming(ABC):
    """``put`` and ``get`` for whole files, on top of a store's streams."""

    @abstractmethod
    def put_stream(
        self,
        session: Session,
        name: str,
        chunks: Iterable[bytes],
        *,
        sm3: str | None = None,
        md5: str | None = None,
        size: int | None = None,
    ) -> str:
        """Keep the concatenation of ``chunks``; see :class:`FileStore`."""

    @abstractmethod
    def open_stream(self, session: Session, file_id: str) -> Iterator[bytes]:
        """The stored bytes in chunks; see :class:`FileStore`."""

    def put(self, session: Session, name: str, content: bytes) -> str:
        """Keep ``content`` and return its id."""
        return self.put_stream(session, name, [content])

    def get(self, session: Session, file_id: str) -> bytes:
        """The whole file, checked against its recorded digest."""
        return b"".join(self.open_stream(session, file_id))

    def info(self, session: Session, file_id: str) -> FileInfo:
        """Name, size and digests of ``file_id``; KeyError if none."""
        return _info(session, file_id)


class DatabaseFileStore(_Streaming):
    """Keeps files in ``stored_file_chunks`` rows, so a database backup has everything."""

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        self.chunk_size = chunk_size

    def put_stream(
        self,
        session: Session,
        name: str,
        chunks: Iterable[bytes],
        *,
        sm3: str | None = None,
        md5: str | None = None,
        size: int | None = None,
    ) -> str:
        """Keep the bytes as rows of ``chunk_size``, one row in memory at a time."""
        check_name(name)
        file_id = new_id()
        row = StoredFile(id=file_id, name=name, content=None, size=0, sm3="")
        session.add(row)
        session.flush()  # the chunks reference it
        digests = _Digests()
        add = insert(StoredFileChunk)
        for number, chunk in enumerate(_digested(rechunk(chunks, self.chunk_size), digests), 1):
            session.execute(add, {"file_id": file_id, "number": number, "data": chunk})
            del chunk  # not held while the next one is gathered
        try:
            row.sm3, row.md5 = digests.finish(sm3=sm3, md5=md5, size=size)
        except DigestMismatch:
            session.execute(delete(StoredFileChunk).where(StoredFileChunk.file_id == file_id))
            session.delete(row)
            session.flush()
            raise
        row.size = digests.size
        session.flush()  # the row must exist before whoever stores the id references it
        return file_id

    def open_stream(self, session: Session, file_id: str) -> Iterator[bytes]:
        """The chunks, fetched one query each (a PostgreSQL cursor would buffer the whole result)."""
        info = _info(session, file_id)
        legacy = session.scalar(select(StoredFile.content.is_not(None)).where(StoredFile.id == file_id))
        if legacy:  # written before revision 0008: the whole file in the row
            return _verified(file_id, self._legacy(session, file_id), info.size, info.sm3)
        numbers = session.scalars(
            select(StoredFileChunk.number)
            .where(StoredFileChunk.file_id == file_id)
            .order_by(StoredFileChunk.number)
        ).all()
        return _verified(file_id, self._chunks(session, file_id, numbers), info.size, info.sm3)

    @staticmethod
    def _legacy(session: Session, file_id: str) -> Iterator[bytes]:
        content = session.scalar(select(StoredFile.content).where(StoredFile.id == file_id))
        if content:
            yield content

    @staticmethod
    def _chunks(session: Session, file_id: str, numbers: Iterable[int]) -> Iterator[bytes]:
        for number in numbers:
            data = session.scalar(
                select(StoredFileChunk.data).where(
                    StoredFileChunk.file_id == file_id, StoredFileChunk.number == number
                )
            )
            if data is None:  # deleted under us: the digest check reports it
                return
            yield data


class DirectoryFileStore(_Streaming):
    """Keeps files under a directory; the database keeps the name, size and digests.

    A file is written and fsynced under a temporary name (``.<id>.tmp``) and moved to ``<id>`` only when
    the session's transaction commits; a rollback (or a session closed uncommitted) deletes it, so the
    directory never keeps bytes without their record. A crash between the commit and the move leaves the
    temporary name, which reads still find and :meth:`reconcile` finishes. Files written inside a
    SAVEPOINT that rolls back while the outer transaction commits are not removed: reconcile does not
    see those either, so don't write files inside savepoints that may roll back.
    """

    def __init__(self, root: Path, chunk_size: int = CHUNK_SIZE) -> None:
        self.root = root
        self.chunk_size = chunk_size
        self._pending = f"baohan.files.pending:{id(self)}"  # session.info key: files awaiting the commit
        root.mkdir(parents=True, exist_ok=True)

    def _final(self, file_id: str) -> Path:
        return self.root / file_id

    def _temporary(self, file_id: str) -> Path:
        return self.root / f".{file_id}.tmp"

    def put_stream(
        self,
        session: Session,
        name: str,
        chunks: Iterable[bytes],
        *,
        sm3: str | None = None,
        md5: str | None = None,
        size: int | None = None,
    ) -> str:
        """Write the bytes durably under a temporary name and record them; the move waits for the commit."""
        check_name(name)
        file_id = new_id()
        temporary = self._temporary(file_id)
        digests = _Digests()
        try:
            with open(temporary, "wb") as out:
                for chunk in _digested(chunks, digests):
                    out.write(chunk)
                    del chunk
                out.flush()
                os.fsync(out.fileno())  # durable before the record commits
            file_sm3, file_md5 = digests.finish(sm3=sm3, md5=md5, size=size)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._move_after_commit(session, file_id)
        session.add(
            StoredFile(id=file_id, name=name, content=None, size=digests.size, sm3=file_sm3, md5=file_md5)
        )
        session.flush()
        return file_id

    def open_stream(self, session: Session, file_id: str) -> Iterator[bytes]:
        """The file read in ``chunk_size`` pieces (still under its temporary name if not yet moved)."""
        info = _info(session, file_id)
        for path in (self._final(file_id), self._temporary(file_id)):
            try:
                source = open(path, "rb")  # noqa: SIM115  # closed by _read when the stream ends
            except FileNotFoundError:
                continue
            return _verified(file_id, self._read(source), info.size, info.sm3)
        raise KeyError(f"no stored file {file_id}")

    def _read(self, source: BinaryIO) -> Iterator[bytes]:
        with source:
            while chunk := source.read(self.chunk_size):
                yield chunk

    def reconcile(self, session: Session, older_than: timedelta) -> tuple[list[str], list[str]]:
        """Finish what a crash interrupted, for temporary files untouched for ``older_than`` (longer than
        any transaction): move those whose record committed, delete the others. Returns (moved, deleted)."""
        cutoff = datetime.now(UTC).timestamp() - older_than.total_seconds()
        moved: list[str] = []
        deleted: list[str] = []
        for path in self.root.glob(".*.tmp"):
            file_id = path.name[1:-4]
            try:
                if path.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            if session.get(StoredFile, file_id) is not None:
                path.replace(self._final(file_id))
                moved.append(file_id)
            else:
                path.unlink(missing_ok=True)
                deleted.append(file_id)
        if moved:
            self._sync_directory()
        return moved, deleted

    def _move_after_commit(self, session: Session, file_id: str) -> None:
        pending: list[str] | None = session.info.get(self._pending)
        if pending is None:
            pending = session.info[self._pending] = []
            event.listen(session, "after_commit", self._on_commit)
            event.listen(session, "after_transaction_end", self._on_end)
        pending.append(file_id)

    def _on_commit(self, session: Session) -> None:
        pending: list[str] = session.info.get(self._pending, [])
        for file_id in pending:
            try:
                self._temporary(file_id).replace(self._final(file_id))
            except OSError:  # reads still find the temporary name; reconcile moves it later
                log.exception("could not move stored file %s into place", file_id)
        if pending:
            self._sync_directory()
        pending.clear()

    def _on_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None:
            return
        pending: list[str] = session.info.get(self._pending, [])
        for file_id in pending:  # still here: the transaction rolled back or was never committed
            self._temporary(file_id).unlink(missing_ok=True)
        pending.clear()

    def _sync_directory(self) -> None:
        descriptor = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(descriptor)  # the renames themselves must survive a crash
        finally:
            os.close(descriptor)
