"""Files arriving in numbered slices (the tender protocol's ``uploadbaohanfile``), staged in the database
until every slice is there and then committed, one slice in memory at a time, into a file store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import FileUpload, FileUploadSlice
from baohan.adapters.files import CHUNK_SIZE, FileStore, check_expected, check_name
from baohan.domain.ids import new_id

MAX_SLICES = 100_000


class SliceConflict(ValueError):
    """A slice number that already holds different bytes."""


class IncompleteUpload(ValueError):
    """A commit while slices are missing."""


class Uploads:
    """Staging for sliced uploads; ``commit`` hands the whole file to ``files`` and returns its id.

    Every call works in the caller's transaction. Slices may arrive in any order and more than once;
    slices added concurrently to one upload may race on the same number (the loser's transaction fails
    with an IntegrityError and can simply be retried).
    """

    def __init__(
        self, files: FileStore, *, max_slice_size: int = 4 * CHUNK_SIZE, max_slices: int = MAX_SLICES
    ) -> None:
        self.files = files
        self.max_slice_size = max_slice_size
        self.max_slices = max_slices

    def begin(self, session: Session, name: str) -> str:
        """Open an upload of a file to be called ``name``; its id."""
        check_name(name)
        upload_id = new_id()
        session.add(FileUpload(id=upload_id, name=name))
        session.flush()
        return upload_id

    def add_slice(self, session: Session, upload_id: str, number: int, data: bytes) -> bool:
        """Keep slice ``number`` (from 1); False when it was already there with these bytes, SliceConflict
        when with others, ValueError when the upload was already committed."""
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= self.max_slices:
            raise ValueError(f"index: a slice number from 1 to {self.max_slices}, got {number!r}")
        if not isinstance(data, bytes) or not 0 < len(data) <= self.max_slice_size:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise ValueError(f"file: a slice of 1 to {self.max_slice_size} bytes, got {size}")
        upload = self._open(session, upload_id)
        # A repeat is rare: reading the held bytes back then costs less than hashing every slice (0006).
        held = session.scalar(
            select(FileUploadSlice.data).where(
                FileUploadSlice.upload_id == upload.id, FileUploadSlice.number == number
            )
        )
        if held is not None:
            if held != data:
                raise SliceConflict(f"index: slice {number} of upload {upload_id} already holds other bytes")
            return False
        session.execute(
            insert(FileUploadSlice),
            {"upload_id": upload_id, "number": number, "size": len(data), "data": data},
        )
        return True

    def received(self, session: Session, upload_id: str) -> list[int]:
        """The slice numbers held so far, ascending."""
        self._open(session, upload_id)
        return list(self._numbers(session, upload_id))

    def commit(
        self,
        session: Session,
        upload_id: str,
        *,
        sm3: str | None = None,
        md5: str | None = None,
        size: int | None = None,
        slices: int | None = None,
        transform: Callable[[Iterator[bytes]], Iterable[bytes]] | None = None,
    ) -> str:
        """Store slices 1..n as one file and return its id. n is ``slices`` when given, else the highest
        number received (then only ``size`` or a digest notices missing last slices). IncompleteUpload or
        DigestMismatch leave the slices for another try; committing again returns the same id.

        ``transform`` (a streaming decryptor, say) turns the slices in order into the bytes stored; the
        digests and size are then those of its output. An error it raises leaves work in the session:
        roll the transaction back."""
        upload = session.get(FileUpload, upload_id, with_for_update=True)
        if upload is None:
            raise KeyError(f"no upload {upload_id}")
        if upload.file_id is not None:
            check_expected(self.files.info(session, upload.file_id), sm3=sm3, md5=md5, size=size)
            return upload.file_id
        numbers = self._numbers(session, upload_id)
        missing = _gaps(numbers, slices)
        if missing:
            raise IncompleteUpload(f"upload {upload_id} lacks slices {missing}")
        chunks: Iterable[bytes] = self._slices(session, upload_id, len(numbers))
        if transform is not None:
            chunks = transform(iter(chunks))
        file_id = self.files.put_stream(session, upload.name, chunks, sm3=sm3, md5=md5, size=size)
        with _plain_delete(session):
            session.execute(delete(FileUploadSlice).where(FileUploadSlice.upload_id == upload_id))
        upload.file_id = file_id
        session.flush()
        return file_id

    def abort(self, session: Session, upload_id: str) -> None:
        """Forget an unfinished upload and its slices; nothing for a committed or unknown one."""
        self._remove(session, [upload_id])

    def unfinished(self, session: Session, before: datetime) -> list[str]:
        """Uploads begun before ``before`` (aware) and never committed, oldest first."""
        return list(
            session.scalars(
                select(FileUpload.id)
                .where(FileUpload.created_at < before, FileUpload.file_id.is_(None))
                .order_by(FileUpload.created_at)
            )
        )

    def purge(self, session: Session, before: datetime) -> list[str]:
        """Remove the uploads :meth:`unfinished` lists, with their slices; their ids."""
        stale = self.unfinished(session, before)
        self._remove(session, stale)
        return stale

    @staticmethod
    def _open(session: Session, upload_id: str) -> FileUpload:
        # A shared lock lets slices arrive in parallel; commit's exclusive one waits for them (PostgreSQL).
        upload = session.get(FileUpload, upload_id, with_for_update={"read": True})
        if upload is None:
            raise KeyError(f"no upload {upload_id}")
        if upload.file_id is not None:
            raise ValueError(f"upload {upload_id} is already committed")
        return upload

    @staticmethod
    def _numbers(session: Session, upload_id: str) -> Sequence[int]:
        return session.scalars(
            select(FileUploadSlice.number)
            .where(FileUploadSlice.upload_id == upload_id)
            .order_by(FileUploadSlice.number)
        ).all()

    @staticmethod
    def _slices(session: Session, upload_id: str, count: int) -> Iterator[bytes]:
        for number in range(1, count + 1):
            data = session.scalar(
                select(FileUploadSlice.data).where(
                    FileUploadSlice.upload_id == upload_id, FileUploadSlice.number == number
                )
            )
            if data is None:
                raise IncompleteUpload(f"upload {upload_id} lost slice {number} while committing")
            yield data

    @staticmethod
    def _remove(session: Session, upload_ids: list[str]) -> None:
        if not upload_ids:
            return
        session.execute(delete(FileUploadSlice).where(FileUploadSlice.upload_id.in_(upload_ids)))
        session.execute(delete(FileUpload).where(FileUpload.id.in_(upload_ids), FileUpload.file_id.is_(None)))


@contextmanager
def _plain_delete(session: Session) -> Iterator[None]:
    """SQLite built with SECURE_DELETE (Debian's, Python's) zeroes every freed page, so dropping a 20 MB
    upload's slices wrote 20 MB of zeros to the WAL and again at the checkpoint (0006). Their bytes now
    live in the file store, in the same database when it is a DatabaseFileStore, so ``FAST`` (zero only
    where that costs no extra I/O) hides nothing the store does not hold anyway."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before: int = connection.exec_driver_sql("PRAGMA secure_delete").scalar_one()
    connection.exec_driver_sql("PRAGMA secure_delete=FAST")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA secure_delete={int(before)}")


def _gaps(numbers: Sequence[int], count: int | None) -> str:
    """The numbers missing from 1..count (or 1..max(numbers)), shortened; empty when none."""
    if not numbers and not count:
        return "1 and on (none received)"
    last = count if count is not None else numbers[-1]
    held = set(numbers)
    missing = [n for n in range(1, last + 1) if n not in held]
    if count is not None and numbers and numbers[-1] > count:
        raise IncompleteUpload(f"slices: {count} expected, but slice {numbers[-1]} was received")
    shown = ", ".join(map(str, missing[:10]))
    return shown + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
