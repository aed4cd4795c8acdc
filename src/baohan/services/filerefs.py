"""References to stored files inside JSON records (outbox payloads, idempotency records), so a record
keeps a file's id instead of a Base64 copy of its bytes: ``{"$file": id}``, optionally with a byte range
``"from"``/``"to"`` (a slice of a large file, sent in parts).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from baohan.adapters.files import FileStore

FILE_REF = "$file"


def file_ref(file_id: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
    """A reference to stored file ``file_id``, or to its bytes ``start`` (inclusive) to ``end`` (exclusive)."""
    if (start is None) != (end is None):
        raise ValueError("a file range needs both its start and its end")
    if start is not None and end is not None and not 0 <= start <= end:
        raise ValueError(f"a file range must run forwards from 0, not {start}..{end}")
    ref: dict[str, Any] = {FILE_REF: file_id}
    if start is not None:
        ref.update({"from": start, "to": end})
    return ref


def is_ref(value: Any) -> bool:
    """True for a ``{"$file": id}`` reference."""
    return isinstance(value, Mapping) and FILE_REF in value


def read_ref(session: Session, files: FileStore, ref: Mapping[str, Any]) -> bytes:
    """The bytes a reference names, streamed so that only the range is held (KeyError if the file is gone)."""
    file_id = str(ref[FILE_REF])
    if "from" not in ref:
        return files.get(session, file_id)
    start, end = int(ref["from"]), int(ref["to"])
    out = bytearray()
    position = 0
    for chunk in files.open_stream(session, file_id):
        if position + len(chunk) > start and position < end:
            out += chunk[max(0, start - position) : end - position]
        position += len(chunk)
        if position >= end:
            break
    if position < end:
        raise ValueError(f"stored file {file_id} holds {position} bytes, not up to {end}")
    return bytes(out)


def resolve_refs(session: Session, files: FileStore, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with each top-level reference replaced by the Base64 of the bytes it names."""
    if not any(is_ref(value) for value in record.values()):
        return record
    return {
        name: base64.b64encode(read_ref(session, files, value)).decode("ascii") if is_ref(value) else value
        for name, value in record.items()
    }
