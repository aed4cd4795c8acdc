"""A server's SQLite engine checkpoints its WAL in the background, never on a request's commit."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import SQLITE_PAGE_SIZE, make_engine


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sqlite-checkpoint"]


def _rows_in_main_file(path: Path) -> int:
    # immutable=1 ignores the WAL: this sees only what has been checkpointed into the database file.
    with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as reader:
        return int(reader.execute("SELECT count(*) FROM switches").fetchone()[0])


def test_commits_leave_the_wal_to_the_background_thread(tmp_path: Path) -> None:
    path = tmp_path / "server.db"
    migrate.upgrade(f"sqlite:///{path}")
    before = set(_checkpointers())
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    (ours,) = set(_checkpointers()) - before
    try:
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
            connection.execute(text("INSERT INTO switches (name, value) VALUES ('paused', 'on')"))
        deadline = time.monotonic() + 10
        while _rows_in_main_file(path) == 0:
            assert time.monotonic() < deadline, "the WAL was never checkpointed"
            time.sleep(0.1)
    finally:
        engine.dispose()
    ours.join(timeout=5)
    assert not ours.is_alive(), "the checkpointer outlived its engine"


def test_other_engines_keep_sqlites_own_checkpoints(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
    finally:
        engine.dispose()


def test_a_new_database_gets_large_pages_an_existing_one_keeps_its_own(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    migrate.upgrade(f"sqlite:///{fresh}")
    with sqlite3.connect(fresh) as reader:
        assert reader.execute("PRAGMA page_size").fetchone()[0] == SQLITE_PAGE_SIZE
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as writer:  # a database made before the setting, with SQLite's default
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE kept (x)")
        assert writer.execute("PRAGMA page_size").fetchone()[0] == 4096
    engine = make_engine(f"sqlite:///{old}")
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO kept VALUES (1)"))
            assert connection.exec_driver_sql("PRAGMA page_size").scalar_one() == 4096
    finally:
        engine.dispose()
