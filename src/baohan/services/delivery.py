"""The outbox's sending side, protocol-neutral: each message kind has a handler registered at start-up.

A protocol plugs in by registering a handler per kind it sends (its notices, its internal jobs); the
courier knows no protocol by name. A handler raises to have the attempt retried, or
:class:`~baohan.adapters.outbox.PermanentFailure` when a retry cannot change the answer. A payload that
carries a file holds a reference to the file store (``baohan.services.filerefs``), not its bytes; the
courier hands the handler the Base64 of the bytes, read at the moment of sending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.orm import Session

from baohan.adapters.files import FileStore
from baohan.adapters.outbox import OutboxMessage, PermanentFailure
from baohan.services.filerefs import is_ref, resolve_refs

Handler = Callable[[OutboxMessage], None]


class Courier:
    """The dispatcher's ``deliver``: hands each message to the handler registered for its kind."""

    def __init__(
        self,
        handlers: Mapping[str, Handler] | None = None,
        *,
        files: FileStore | None = None,
        sessions: Callable[[], Session] | None = None,
    ) -> None:
        self._files, self._sessions = files, sessions
        self._handlers: dict[str, Handler] = {}
        self._closers: list[Callable[[], None]] = []
        for kind, handler in (handlers or {}).items():
            self.register(kind, handler)

    def register(self, kind: str, handler: Handler) -> None:
        """Deliver messages of ``kind`` through ``handler``; ValueError if the kind is taken."""
        if kind in self._handlers:
            raise ValueError(f"outbox kind {kind!r} already has a handler")
        self._handlers[kind] = handler

    def register_all(self, handlers: Mapping[str, Handler]) -> None:
        """Register several kinds at once."""
        for kind, handler in handlers.items():
            self.register(kind, handler)

    def kinds(self) -> frozenset[str]:
        """The kinds this courier has a handler for: the ones its dispatcher should claim."""
        return frozenset(self._handlers)

    def on_close(self, close: Callable[[], None]) -> None:
        """Run ``close`` (an HTTP pool's, say) when the courier closes."""
        self._closers.append(close)

    def __call__(self, message: OutboxMessage) -> None:
        handler = self._handlers.get(message.kind)
        if handler is None:
            # Written by a version that knew this kind; retrying in this process cannot help.
            raise PermanentFailure(f"no handler registered for outbox kind {message.kind!r}")
        if any(is_ref(value) for value in message.payload.values()):
            message = self._with_files(message)
        handler(message)

    def _with_files(self, message: OutboxMessage) -> OutboxMessage:
        if self._files is None or self._sessions is None:
            raise PermanentFailure("this courier has no file store to read the files a payload names")
        with self._sessions() as session:
            try:
                payload = resolve_refs(session, self._files, message.payload)
            except (KeyError, ValueError) as exc:
                raise PermanentFailure(f"a file the payload names cannot be read: {exc}") from None
        sent = OutboxMessage(**{c.key: getattr(message, c.key) for c in OutboxMessage.__table__.columns})
        sent.payload = payload
        return sent

    def close(self) -> None:
        """Release what the handlers hold."""
        for close in reversed(self._closers):
            close()
        self._closers.clear()
