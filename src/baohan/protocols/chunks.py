"""Bytes cut again into pieces of one size: the tender wire's file slices, the file stores' chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """The bytes of ``chunks`` again in pieces of exactly ``size`` (the last one shorter, none empty)."""
    buffer = bytearray()
    for piece in chunks:
        if not buffer and len(piece) == size:
            yield bytes(piece)  # the usual case, a piece of the size already: no copy of a bytes object
            continue
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
