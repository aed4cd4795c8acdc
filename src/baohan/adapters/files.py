"""File storage behind one interface: in the database (the default) or in a directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from baohan.adapters.db.tables import StoredFile
from baohan.domain.ids import new_id
from baohan.gm import sm3_hex


class FileStore(Protocol):
    """Stores bytes under a new id recorded in the caller's transaction."""

    def put(self, session: Session, name: str, content: bytes) -> str:
        """Keep ``content`` and return its id."""

    def get(self, session: Session, file_id: str) -> bytes:
        """The bytes stored under ``file_id``; KeyError if none, ValueError if they no longer match."""


class DatabaseFileStore:
    """Keeps file contents in the ``stored_files`` table, so a database backup has everything."""

    def put(self, session: Session, name: str, content: bytes) -> str:
        """Keep ``content`` in the row itself."""
        file_id = new_id()
        session.add(
            StoredFile(id=file_id, name=name, content=content, size=len(content), sm3=sm3_hex(content))
        )
        session.flush()  # the row must exist before whoever stores the id references it
        return file_id

    def get(self, session: Session, file_id: str) -> bytes:
        """The row's content, checked against its recorded digest."""
        row = session.get(StoredFile, file_id)
        if row is None or row.content is None:
            raise KeyError(f"no stored file {file_id}")
        if sm3_hex(row.content) != row.sm3:
            raise ValueError(f"stored file {file_id} does not match its digest")
        return row.content


class DirectoryFileStore:
    """Keeps file contents under a directory; the database keeps the name, size and SM3 digest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, session: Session, name: str, content: bytes) -> str:
        """Write the file durably (temp file, fsync, rename) and record it."""
        file_id = new_id()
        tmp = self.root / f".{file_id}.tmp"
        with open(tmp, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.root / file_id)
        session.add(StoredFile(id=file_id, name=name, content=None, size=len(content), sm3=sm3_hex(content)))
        session.flush()
        return file_id

    def get(self, session: Session, file_id: str) -> bytes:
        """The file's bytes, checked against the recorded digest."""
        row = session.get(StoredFile, file_id)
        path = self.root / file_id
        if row is None or not path.is_file():
            raise KeyError(f"no stored file {file_id}")
        content = path.read_bytes()
        if sm3_hex(content) != row.sm3:
            raise ValueError(f"stored file {file_id} does not match its digest")
        return content
