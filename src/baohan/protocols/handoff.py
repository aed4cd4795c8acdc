"""Futures of an event loop resolved from worker threads, a batch at a time."""

from __future__ import annotations

import asyncio
from typing import Any

Resolution = tuple["asyncio.Future[Any]", bool, Any]  # (future, succeeded, result or exception)


def resolve_from_thread(loop: asyncio.AbstractEventLoop, items: list[Resolution]) -> bool:
    """Resolve ``loop``'s futures from another thread with one wake-up for all of them; False when the
    loop has closed (nobody waits for them any more).

    One wake-up per batch rather than per request matters: each is a system call and a GIL hand-off, and
    at a few thousand requests a second they cost more than the work itself.
    """
    try:
        loop.call_soon_threadsafe(_resolve, items)
    except RuntimeError:
        return False
    return True


def _resolve(items: list[Resolution]) -> None:
    for future, ok, value in items:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
