"""What both tender roles share: the router's Endpoint over handlers registered by interface.

A role is a :class:`TenderRoleBase` given a dict ``interface -> Handler`` at construction (handlers from
several modules merged into one dict; no chain of ``if`` on interface names). :meth:`TenderRoleBase.handle`
runs the interface's handler in ONE transaction together with the replay record keyed
(appkey's counterparty, interface, key), so a repeat is answered as the first time and does nothing new,
and a handler that raises leaves nothing behind (neither its effects nor a record). A handler answers
:class:`~baohan.protocols.tender.endpoint.Answer`; a refusal it wants remembered is ``Answer(False, …)``,
a refusal a later try may change is raised as ``TenderError``.

:class:`Context` is what every handler and use case gets: the sessions, registry, this side's store, the
file store, the key store, the clock, the role's settings, and :meth:`Context.notify`, which writes a
``tender.<interface>`` request to the outbox in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters import outbox
from baohan.adapters.db.engine import utcnow
from baohan.adapters.db.tables import Counterparty, TenderApplication
from baohan.adapters.files import FileStore
from baohan.adapters.keystore import SecretBox
from baohan.domain.ids import new_id
from baohan.protocols.tender.endpoint import Answer, Inbound, TenderChannel
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.tables import INTERFACES
from baohan.protocols.tender.wire import TenderError
from baohan.services.idempotency import Key, KeyReused, Recorded, Replays
from baohan.services.switches import Switches
from baohan.services.tender.registry import PROTOCOL, Registry
from baohan.services.tender.sender import kind, message_payload
from baohan.services.tender.store import Applications

SUCCESS, FAILURE = "1", "0"  # how a recorded answer keeps the wire's code


@dataclass(frozen=True)
class Context:
    """What a tender role's handlers and use cases share."""

    sessions: sessionmaker[Session]
    registry: Registry
    store: Applications
    files: FileStore
    box: SecretBox
    replays: Replays
    switches: Switches
    settings: Any = None
    clock: Callable[[], datetime] = utcnow

    # Inside a transaction read counterparties here, not through the registry: its cache may refresh by
    # opening a second session, which SQLite's writer lock refuses while this one holds it.

    def counterparty_id(self, session: Session, appkey: str) -> str:
        """The id of the active counterparty registered under ``appkey``, read in ``session``; TenderError
        when there is none (the router checked it, but it may have been deactivated since)."""
        query = select(Counterparty.id).where(
            Counterparty.protocol == PROTOCOL, Counterparty.appid == appkey, Counterparty.active.is_(True)
        )
        if self.registry.counterparty_role is not None:  # both roles may share a database and an appkey
            query = query.where(Counterparty.role == self.registry.counterparty_role)
        found = session.scalars(query).first()
        if found is None:
            raise TenderError(f"appkey: {appkey} is not registered")
        return found

    def profile(self, session: Session, counterparty_id: str) -> TenderProfile:
        """The wire profile of ``counterparty_id``, read in ``session``."""
        row = session.get(Counterparty, counterparty_id)
        if row is None:
            raise LookupError(f"no counterparty {counterparty_id}")
        return TenderProfile.from_dict(row.profile)

    def notify(
        self,
        session: Session,
        app: TenderApplication,
        interface: str,
        fields: Mapping[str, Any],
        *,
        not_before: datetime | None = None,
        dedupe_key: str | None = None,
    ) -> str:
        """Write ``interface``'s request about ``app`` to its counterparty in the outbox, in ``session``'s
        transaction; the message id. Messages of one application go out in the order written.

        ``fields`` are the request's own (the sender adds appkey, timestamp, platformcode and sign); personal
        ones are sealed while they wait. A ``dedupe_key`` already used writes nothing new.
        """
        dedupe = dedupe_key or f"{kind(interface)}:{app.id}:{new_id()}"
        return outbox.enqueue(
            session,
            destination=app.counterparty_id,
            kind=kind(interface),
            payload=message_payload(self.box, fields, dedupe),
            dedupe_key=dedupe,
            aggregate=f"tender:{app.id}",
            not_before=not_before,
            now=self.clock(),
        )


Handler = Callable[[Context, Session, Inbound], Answer]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """An Answer as the replay record keeps it."""

    answer: Answer

    @property
    def code(self) -> str:
        return SUCCESS if self.answer.ok else FAILURE

    @property
    def message(self) -> str:
        return self.answer.message

    @property
    def data(self) -> dict[str, Any] | None:
        return None if self.answer.data is None else dict(self.answer.data)

    @property
    def stored(self) -> Sequence[tuple[str, str]]:
        return ()


def replay_key(counterparty_id: str, interface: str, key: str) -> Key:
    """The idempotency key of a tender request: its interface and key, per counterparty."""
    return Key(PROTOCOL, counterparty_id, interface, key)


def _answer(recorded: Recorded) -> Answer:
    return Answer(recorded.code == SUCCESS, recorded.message, recorded.data)


def _reused(interface: str, key: str) -> TenderError:
    names = ", ".join(INTERFACES[interface].key)
    return TenderError(f"{names}: {key} was already used for a different {interface} request")


class TenderRoleBase:
    """The router's Endpoint of one tender role (``side``): handlers by interface, replays, the pause."""

    side: ClassVar[str]

    def __init__(self, context: Context, handlers: Mapping[str, Handler]) -> None:
        unknown = sorted(set(handlers) - set(INTERFACES))
        if unknown:
            raise ValueError(f"not tender interfaces: {', '.join(unknown)}")
        self.context = context
        self._handlers = dict(handlers)

    @property
    def served(self) -> frozenset[str]:
        """The interfaces this role answers (what the router mounts)."""
        return frozenset(self._handlers)

    def find(self, key: str) -> TenderApplication:
        """This side's application ``key``: our id, or an applyno or baohanno of one counterparty.
        LookupError when there is none; ValueError when ``key`` names several counterparties' ones."""
        context = self.context
        # Read before the session: on SQLite a second session in this thread would wait on the first's lock.
        peers = context.registry.listing()
        with context.sessions() as session:
            try:
                return context.store.get(session, key)
            except LookupError:
                pass
            found = [
                app
                for peer in peers
                for app in (
                    context.store.by_applyno(session, peer.id, key),
                    context.store.by_baohanno(session, peer.id, key),
                )
                if app is not None
            ]
        ids = {app.id for app in found}
        if not ids:
            raise LookupError(f"no tender application {key}")
        if len(ids) > 1:
            raise ValueError(f"{key} names applications of several counterparties: use our id")
        return found[0]

    # -- the router's Endpoint --------------------------------------------------------------------------

    def channel(self, appkey: str) -> TenderChannel | None:
        """The channel of the counterparty registered under ``appkey``."""
        peer = self.context.registry.peer_by_appkey(appkey)
        return peer.channel if peer is not None else None

    def paused(self) -> bool:
        """True while an operator has paused this role of the tender protocol."""
        return self.context.switches.paused(PROTOCOL, self.side)

    def pause(self, paused: bool) -> None:
        """Pause this role (every request answered "paused") or resume it; other roles keep running."""
        self.context.switches.pause(PROTOCOL, self.side, paused)

    def replayed(self, appkey: str, interface: str, key: str, fingerprint: str) -> Answer | None:
        """The answer already given to this request, or None; TenderError when ``key`` was used for other
        content."""
        peer = self.context.registry.peer_by_appkey(appkey)
        if peer is None:
            return None
        with self.context.sessions() as session:
            try:
                recorded = self.context.replays.find(
                    session, replay_key(peer.id, interface, key), fingerprint
                )
            except KeyReused:
                raise _reused(interface, key) from None
        return None if recorded is None else _answer(recorded)

    def handle(self, request: Inbound) -> Answer:
        """Run the handler of ``request.interface`` and record its answer, atomically."""
        handler = self._handlers.get(request.interface)
        if handler is None:
            raise TenderError(f"{request.interface}: not served by this {self.side}")
        peer = self.context.registry.peer_by_appkey(request.appkey)
        if peer is None:  # the router only hands over requests from registered appkeys
            raise TenderError(f"appkey: {request.appkey} is not registered")
        try:
            outcome = self.context.replays.transact(
                self.context.sessions,
                replay_key(peer.id, request.interface, request.key),
                request.fingerprint,
                lambda session: _Outcome(handler(self.context, session, request)),
            )
        except KeyReused:
            raise _reused(request.interface, request.key) from None
        return _answer(outcome) if isinstance(outcome, Recorded) else outcome.answer
