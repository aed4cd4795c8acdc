"""File stores on SQLite and PostgreSQL: streamed round trips, digests, sliced uploads, rollback, memory."""

from __future__ import annotations

import hashlib
import itertools
import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.adapters.db.tables import FileUpload, StoredFile, StoredFileChunk
from baohan.adapters.files import (
    CHUNK_SIZE,
    DatabaseFileStore,
    DigestMismatch,
    DirectoryFileStore,
    FileStore,
    rechunk,
)
from baohan.adapters.uploads import IncompleteUpload, SliceConflict, Uploads
from baohan.gm import SM3Hasher, sm3_hex

STORES = ["database", "directory"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseFileStore | DirectoryFileStore:
    """Each store with a small chunk size, so files of a few kilobytes span several chunks."""
    if request.param == "database":
        return DatabaseFileStore(chunk_size=1000)
    return DirectoryFileStore(tmp_path / "files", chunk_size=1000)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


def test_round_trips_whole_and_streamed(sessions: sessionmaker[Session], store: FileStore) -> None:
    data = random.Random(1).randbytes(5500)
    with transaction(sessions) as session:
        whole = store.put(session, "letter.pdf", data)
        streamed = store.put_stream(session, "big.pdf", pieces(data, 777))
        empty = store.put(session, "empty.pdf", b"")
    with transaction(sessions) as session:
        assert store.get(session, whole) == data
        assert b"".join(store.open_stream(session, streamed)) == data
        assert [len(c) for c in store.open_stream(session, streamed)] == [1000] * 5 + [500]
        assert store.get(session, empty) == b""
        info = store.info(session, streamed)
        assert (info.name, info.size, info.sm3, info.md5) == (
            "big.pdf",
            5500,
            sm3_hex(data),
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )
        with pytest.raises(KeyError, match="no stored file"):
            store.open_stream(session, "missing")


def test_expected_digests_are_checked_and_nothing_is_kept_on_a_mismatch(
    sessions: sessionmaker[Session], store: FileStore, tmp_path: Path
) -> None:
    data = b"x" * 2500
    with transaction(sessions) as session:
        file_id = store.put_stream(
            session,
            "a.pdf",
            [data],
            sm3=sm3_hex(data).upper(),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            size=2500,
        )
        assert store.get(session, file_id) == data
        for wrong, field in (({"md5": "0" * 32}, "md5"), ({"sm3": "0" * 64}, "sm3"), ({"size": 1}, "size")):
            with pytest.raises(DigestMismatch, match=f"^{field}: expected"):
                store.put_stream(session, "b.pdf", [data], **wrong)  # type: ignore[arg-type]
    with sessions() as session:
        assert session.scalar(select(StoredFile.name).where(StoredFile.name == "b.pdf")) is None
        assert session.scalar(select(text("count(*)")).select_from(StoredFile)) == 1
    if isinstance(store, DirectoryFileStore):
        assert sorted(p.name for p in store.root.iterdir()) == [file_id]


def corrupt(session: Session, store: FileStore, file_id: str) -> None:
    if isinstance(store, DirectoryFileStore):
        path = store.root / file_id
        raw = bytearray(path.read_bytes())
        raw[-1] ^= 1
        path.write_bytes(bytes(raw))
    else:
        session.execute(
            update(StoredFileChunk)
            .where(StoredFileChunk.file_id == file_id, StoredFileChunk.number == 3)
            .values(data=b"y" * 500)
        )


def test_a_corrupted_file_raises_before_its_last_chunk(
    sessions: sessionmaker[Session], store: FileStore
) -> None:
    data = b"z" * 2500
    with transaction(sessions) as session:
        file_id = store.put(session, "a.pdf", data)
    with transaction(sessions) as session:
        corrupt(session, store, file_id)
    with sessions() as session:
        stream = store.open_stream(session, file_id)
        assert next(stream) == b"z" * 1000
        assert next(stream) == b"z" * 1000
        with pytest.raises(DigestMismatch, match=f"stored file {file_id} does not match its digest"):
            next(stream)  # the last chunk is never handed out
        with pytest.raises(ValueError, match="does not match"):
            store.get(session, file_id)


def test_a_missing_chunk_is_a_mismatch(sessions: sessionmaker[Session]) -> None:
    store = DatabaseFileStore(chunk_size=10)
    with transaction(sessions) as session:
        file_id = store.put(session, "a.pdf", bytes(range(35)))
        session.execute(
            StoredFileChunk.__table__.delete().where(
                StoredFileChunk.file_id == file_id, StoredFileChunk.number == 2
            )
        )
        with pytest.raises(DigestMismatch):
            store.get(session, file_id)


def test_legacy_rows_with_the_whole_content_still_read(sessions: sessionmaker[Session]) -> None:
    data = b"%PDF-1.7 legacy letter"
    with transaction(sessions) as session:  # as revision 0002's DatabaseFileStore wrote them
        session.add(StoredFile(id="old", name="old.pdf", content=data, size=len(data), sm3=sm3_hex(data)))
        session.add(StoredFile(id="bad", name="bad.pdf", content=b"changed", size=7, sm3=sm3_hex(data)))
    with sessions() as session:
        store = DatabaseFileStore()
        assert store.get(session, "old") == data
        assert store.info(session, "old").md5 is None
        with pytest.raises(DigestMismatch):
            store.get(session, "bad")


@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
    size=st.integers(min_value=1, max_value=1100),
)
def test_any_chunking_of_any_bytes_round_trips_through_rechunk(
    data: bytes, cuts: list[int], size: int
) -> None:
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    parts = [data[a:b] for a, b in itertools.pairwise(bounds)]
    out = list(rechunk(parts, size))
    assert b"".join(out) == data
    assert all(len(c) == size for c in out[:-1]) and all(0 < len(c) <= size for c in out)


@pytest.fixture(scope="module")
def shared_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


@given(
    data=st.binary(max_size=2500),
    cuts=st.lists(st.integers(min_value=0, max_value=2500), max_size=8),
    directory=st.booleans(),
)
def test_any_chunking_of_any_bytes_round_trips_through_both_stores(
    shared_sqlite: sessionmaker[Session],
    tmp_path_factory: pytest.TempPathFactory,
    data: bytes,
    cuts: list[int],
    directory: bool,
) -> None:
    store: FileStore = (
        DirectoryFileStore(tmp_path_factory.getbasetemp() / "prop-files", chunk_size=300)
        if directory
        else DatabaseFileStore(chunk_size=300)
    )
    bounds = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    with transaction(shared_sqlite) as session:
        file_id = store.put_stream(session, "p", [data[a:b] for a, b in itertools.pairwise(bounds)])
    with shared_sqlite() as session:
        assert b"".join(store.open_stream(session, file_id)) == data


# Sliced uploads


def test_slices_out_of_order_and_repeated_commit_into_one_file(
    sessions: sessionmaker[Session], store: FileStore
) -> None:
    uploads = Uploads(store)
    data = random.Random(2).randbytes(4200)
    slices = pieces(data, 1024)  # 5 slices
    with transaction(sessions) as session:
        upload = uploads.begin(session, "guarantee.pdf")
    for number in (3, 1, 5):
        with transaction(sessions) as session:
            assert uploads.add_slice(session, upload, number, slices[number - 1]) is True
    with transaction(sessions) as session:
        assert uploads.add_slice(session, upload, 3, slices[2]) is False  # a retry: same bytes, no change
        with pytest.raises(SliceConflict, match=r"index: slice 3 .* already holds other bytes"):
            uploads.add_slice(session, upload, 3, b"other")
        flipped = slices[2][:-1] + bytes([slices[2][-1] ^ 1])  # same size, one bit off
        with pytest.raises(SliceConflict, match=r"index: slice 3 .* already holds other bytes"):
            uploads.add_slice(session, upload, 3, flipped)
        with pytest.raises(IncompleteUpload, match=r"lacks slices 2, 4$"):
            uploads.commit(session, upload)
        uploads.add_slice(session, upload, 4, slices[3])
        assert uploads.received(session, upload) == [1, 3, 4, 5]
    with transaction(sessions) as session:
        uploads.add_slice(session, upload, 2, slices[1])
        with pytest.raises(IncompleteUpload, match=r"lacks slices 6$"):
            uploads.commit(session, upload, slices=6)
        with pytest.raises(DigestMismatch, match=r"^md5: expected"):
            uploads.commit(session, upload, md5="0" * 32)
        assert uploads.received(session, upload) == [1, 2, 3, 4, 5]  # still there for another try
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    with transaction(sessions) as session:
        file_id = uploads.commit(session, upload, md5=md5.upper(), sm3=sm3_hex(data), size=4200, slices=5)
    with transaction(sessions) as session:
        assert store.get(session, file_id) == data
        assert store.info(session, file_id).name == "guarantee.pdf"
        assert uploads.commit(session, upload, md5=md5) == file_id  # the complete notice, repeated
        with pytest.raises(DigestMismatch):
            uploads.commit(session, upload, md5="1" * 32)
        with pytest.raises(ValueError, match="already committed"):
            uploads.add_slice(session, upload, 6, b"late")
        assert session.scalar(text("SELECT count(*) FROM file_upload_slices")) == 0


@pytest.mark.parametrize("kind", STORES)
def test_large_chunks_hashed_on_a_worker_give_the_digests_of_the_whole(
    sessions: sessionmaker[Session], tmp_path: Path, kind: str
) -> None:
    # Chunks below the hand-off size are hashed inline, larger ones on the worker, in one file.
    data = random.Random(6).randbytes(3 * CHUNK_SIZE + 777)
    parts = [data[:1000], data[1000 : CHUNK_SIZE + 5], data[CHUNK_SIZE + 5 :]]
    chosen: FileStore = DatabaseFileStore() if kind == "database" else DirectoryFileStore(tmp_path / "files")
    with transaction(sessions) as session:
        file_id = chosen.put_stream(
            session, "big", parts, md5=hashlib.md5(data, usedforsecurity=False).hexdigest()
        )
        info = chosen.info(session, file_id)
    assert (info.size, info.sm3) == (len(data), sm3_hex(data))
    with sessions() as session:
        assert b"".join(chosen.open_stream(session, file_id)) == data


def test_commit_drops_the_slices_and_leaves_sqlites_secure_delete_as_it_was(
    sessions: sessionmaker[Session],
) -> None:
    uploads = Uploads(DatabaseFileStore(chunk_size=1000))
    with transaction(sessions) as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        before = session.execute(text("PRAGMA secure_delete")).scalar_one() if sqlite else None
        upload = uploads.begin(session, "g.pdf")
        uploads.add_slice(session, upload, 1, b"s" * 1500)
        uploads.commit(session, upload)
        assert session.scalar(text("SELECT count(*) FROM file_upload_slices")) == 0
        if sqlite:
            assert session.execute(text("PRAGMA secure_delete")).scalar_one() == before == 1


def test_a_wrong_digest_at_commit_keeps_no_file(sessions: sessionmaker[Session], store: FileStore) -> None:
    uploads = Uploads(store)
    with transaction(sessions) as session:
        upload = uploads.begin(session, "g.pdf")
        uploads.add_slice(session, upload, 1, b"a" * 1500)
        with pytest.raises(DigestMismatch, match=r"^sm3: expected"):
            uploads.commit(session, upload, sm3="ab" * 32)
        assert session.scalar(text("SELECT count(*) FROM stored_files")) == 0
        assert session.scalar(text("SELECT count(*) FROM stored_file_chunks")) == 0
    if isinstance(store, DirectoryFileStore):
        assert list(store.root.iterdir()) == []


def test_commit_stores_what_the_transform_makes_of_the_slices(
    sessions: sessionmaker[Session], store: FileStore
) -> None:
    uploads = Uploads(store)
    seen: list[int] = []

    def upper(slices: Iterator[bytes]) -> Iterator[bytes]:
        for piece in slices:
            seen.append(len(piece))
            yield piece.upper()

    def broken(slices: Iterator[bytes]) -> Iterator[bytes]:
        yield next(slices)
        raise ValueError("baohanfile: bad padding")

    with transaction(sessions) as session:
        upload = uploads.begin(session, "g.pdf")
        for number, piece in enumerate([b"abc", b"def", b"g"], 1):
            uploads.add_slice(session, upload, number, piece)
    with pytest.raises(ValueError, match="bad padding"), transaction(sessions) as session:
        uploads.commit(session, upload, transform=broken)
    md5 = hashlib.md5(b"ABCDEFG", usedforsecurity=False).hexdigest()
    with transaction(sessions) as session:
        file_id = uploads.commit(session, upload, md5=md5, size=7, transform=upper)
    assert seen == [3, 3, 1]  # in order, one slice at a time
    with transaction(sessions) as session:
        assert store.get(session, file_id) == b"ABCDEFG"


def test_bad_slices_are_refused_naming_the_field(sessions: sessionmaker[Session]) -> None:
    uploads = Uploads(DatabaseFileStore(), max_slice_size=10, max_slices=3)
    with transaction(sessions) as session:
        upload = uploads.begin(session, "g.pdf")
        for number in (0, 4, True, "1"):
            with pytest.raises(ValueError, match=r"^index: a slice number from 1 to 3"):
                uploads.add_slice(session, upload, number, b"a")  # type: ignore[arg-type]
        for data in (b"", b"a" * 11, "text"):
            with pytest.raises(ValueError, match=r"^file: a slice of 1 to 10 bytes"):
                uploads.add_slice(session, upload, 1, data)  # type: ignore[arg-type]
        with pytest.raises(KeyError, match="no upload nope"):
            uploads.add_slice(session, "nope", 1, b"a")
        with pytest.raises(ValueError, match=r"^name: a file name of 1 to 255"):
            uploads.begin(session, "n" * 256)
        with pytest.raises(IncompleteUpload, match="none received"):
            uploads.commit(session, upload)


def test_abort_and_purge_remove_unfinished_uploads(sessions: sessionmaker[Session]) -> None:
    uploads = Uploads(DatabaseFileStore())
    with transaction(sessions) as session:
        aborted, old, fresh, done = (uploads.begin(session, f"{n}.pdf") for n in range(4))
        for upload in (aborted, old, fresh, done):
            uploads.add_slice(session, upload, 1, b"slice")
        file_id = uploads.commit(session, done)
        week_ago = datetime.now(UTC) - timedelta(days=7)
        session.execute(update(FileUpload).where(FileUpload.id.in_([old, done])).values(created_at=week_ago))
    with transaction(sessions) as session:
        uploads.abort(session, aborted)
        uploads.abort(session, aborted)  # twice is fine
        day_ago = datetime.now(UTC) - timedelta(days=1)
        assert uploads.unfinished(session, day_ago) == [old]
        assert uploads.purge(session, day_ago) == [old]
    with sessions() as session:
        assert set(session.scalars(select(FileUpload.id))) == {fresh, done}
        assert session.scalar(text("SELECT count(*) FROM file_upload_slices")) == 1
        assert uploads.commit(session, done) == file_id
        with pytest.raises(KeyError):
            uploads.received(session, aborted)


# The directory store and transactions


def test_a_rolled_back_file_leaves_nothing_in_the_directory(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    store = DirectoryFileStore(tmp_path / "files")

    def put_then_fail() -> None:
        with transaction(sessions) as session:
            file_id = store.put(session, "a.pdf", b"rolled back")
            assert store.get(session, file_id) == b"rolled back"  # readable inside its own transaction
            assert [p.name for p in store.root.iterdir()] == [f".{file_id}.tmp"]
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        put_then_fail()
    assert list(store.root.iterdir()) == []
    with sessions() as session:  # closed without commit
        store.put(session, "b.pdf", b"never committed")
    assert list(store.root.iterdir()) == []
    with transaction(sessions) as session:
        kept = store.put(session, "c.pdf", b"committed")
    assert [p.name for p in store.root.iterdir()] == [kept]
    with sessions() as session:
        assert store.get(session, kept) == b"committed"


def test_reconcile_finishes_what_a_crash_interrupted(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = DirectoryFileStore(tmp_path / "files")
    with transaction(sessions) as session:
        committed = store.put(session, "a.pdf", b"committed")
    (store.root / committed).rename(store.root / f".{committed}.tmp")  # crashed before the move
    (store.root / ".orphan.tmp").write_bytes(b"crashed before the commit")
    with sessions() as session:
        assert store.get(session, committed) == b"committed"
        assert store.reconcile(session, timedelta(hours=1)) == ([], [])  # too young to judge
        assert store.reconcile(session, timedelta(0)) == ([committed], ["orphan"])
    assert [p.name for p in store.root.iterdir()] == [committed]


# Memory: 64 MB in 1 MiB chunks


SIXTY_FOUR_MB = 64 * CHUNK_SIZE
# Three chunks: the one a reader still holds, the one held back until the next is read, the next one.
BOUND = 3 * CHUNK_SIZE + 512 * 1024


def generated(total: int) -> Iterator[bytes]:
    """``total`` bytes, the same each time, one chunk at a time (SHAKE allocates just the chunk)."""
    for number in range(total // CHUNK_SIZE):
        yield hashlib.shake_128(number.to_bytes(4, "big")).digest(CHUNK_SIZE)


@pytest.mark.parametrize("kind", STORES)
def test_64_mb_pass_through_in_bounded_memory(
    sessions: sessionmaker[Session], kind: str, tmp_path: Path, db_url: str
) -> None:
    store: FileStore = DatabaseFileStore() if kind == "database" else DirectoryFileStore(tmp_path / "files")
    expected = SM3Hasher()
    for chunk in generated(SIXTY_FOUR_MB):
        expected.update(chunk)
    want = expected.hexdigest()

    tracemalloc.start()
    try:
        with transaction(sessions) as session:
            file_id = store.put_stream(session, "big.pdf", generated(SIXTY_FOUR_MB), sm3=want)
        before_read, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        got, size = SM3Hasher(), 0
        with sessions() as session:
            for chunk in store.open_stream(session, file_id):
                got.update(chunk)
                size += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (size, got.hexdigest()) == (SIXTY_FOUR_MB, want)
    assert write_peak < BOUND, f"writing peaked at {write_peak / CHUNK_SIZE:.2f} MiB"
    # (what the write left behind, such as compiled statements, is not the read's doing)
    read_peak -= before_read
    assert read_peak < BOUND, f"reading peaked at {read_peak / CHUNK_SIZE:.2f} MiB"


def test_64_mb_upload_commits_in_bounded_memory(sessions: sessionmaker[Session]) -> None:
    uploads = Uploads(DatabaseFileStore())
    with transaction(sessions) as session:
        upload = uploads.begin(session, "big.pdf")
    md5 = hashlib.md5(usedforsecurity=False)
    for number, chunk in enumerate(generated(SIXTY_FOUR_MB), 1):
        md5.update(chunk)
        with transaction(sessions) as session:
            uploads.add_slice(session, upload, number, chunk)
    tracemalloc.start()
    try:
        with transaction(sessions) as session:
            file_id = uploads.commit(session, upload, md5=md5.hexdigest(), slices=64)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < BOUND, f"committing peaked at {peak / CHUNK_SIZE:.2f} MiB"
    with sessions() as session:
        assert uploads.files.info(session, file_id).size == SIXTY_FOUR_MB


# Migration


def test_0008_upgrades_and_downgrades_keeping_the_files(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0005")
    engine = make_engine(empty_db_url)
    sessions = make_session_factory(engine)
    try:
        with engine.begin() as connection:  # a letter as 0005-era code stored it
            connection.execute(
                StoredFile.__table__.insert().values(
                    id="old",
                    name="old.pdf",
                    content=b"old",
                    size=3,
                    sm3=sm3_hex(b"old"),
                    created_at=datetime.now(UTC),
                )
            )
        migrate.upgrade(empty_db_url, "0008")
        store = DatabaseFileStore(chunk_size=4)
        with transaction(sessions) as session:
            assert store.get(session, "old") == b"old"
            new = store.put(session, "new.pdf", b"chunked content")
        command.downgrade(migrate.alembic_config(empty_db_url), "0005")
        with engine.connect() as connection:
            rows = dict(connection.execute(text("SELECT id, content FROM stored_files")).all())
            assert {k: bytes(v) for k, v in rows.items()} == {"old": b"old", new: b"chunked content"}
            assert "stored_file_chunks" not in set(connection.scalars(text(_TABLES[connection.dialect.name])))
        migrate.upgrade(empty_db_url, "0008")
        with sessions() as session:
            assert store.get(session, new) == b"chunked content"  # read back as a legacy row
    finally:
        engine.dispose()


_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
}
