"""What both procurement roles share: the router's Endpoint, the audit-logged lifecycle, reading applications."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters import personal
from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.db.tables import Application, ApplicationEvent, Claim, Counterparty
from baohan.adapters.files import FileStore
from baohan.adapters.keystore import SecretBox
from baohan.domain.ids import new_id
from baohan.domain.lifecycle import Event, IllegalTransition, Stage, next_stage
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.endpoint import Answer, Inbound
from baohan.protocols.procurement.envelope import Channel
from baohan.protocols.profile import Profile
from baohan.services.idempotency import KeyReused, Recorded, Replays
from baohan.services.procurement.registry import Registry, SessionFactory
from baohan.services.procurement.replay import PROTOCOL, replay_key, replayed_answer, reused

Handler = Callable[[Session, str, Any], Answer]


class OperatorError(Exception):
    """An operator action that cannot be done; the message says why."""


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Decimal | datetime) else v) for k, v in detail.items()}


class RoleService:
    """Base of the issuer and the platform: one side's copy of the applications (``side``)."""

    side: ClassVar[str]
    served: ClassVar[frozenset[str]]

    def __init__(
        self,
        sessions: SessionFactory,
        registry: Registry,
        files: FileStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        replays: Replays | None = None,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._files = files
        self._clock = clock
        self._switches = registry.switches
        self._replays = replays or Replays(files)

    @property
    def box(self) -> SecretBox:
        """The key store that seals this role's personal data (views open it to mask or reveal)."""
        return self._registry.box

    # -- the router's Endpoint --------------------------------------------------------------------------

    def channel(self, appid: str) -> Channel | None:
        """The channel of the counterparty registered under ``appid``."""
        peer = self._registry.peer_by_appid(appid)
        return peer.channel if peer is not None else None

    def paused(self) -> bool:
        """True while the operator has paused this role of the procurement protocol."""
        return self._switches.paused(PROTOCOL, self.side)

    def pause(self, paused: bool) -> None:
        """Pause this role (301 to every request) or resume it; other protocols and roles keep running."""
        self._switches.pause(PROTOCOL, self.side, paused)

    def replayed(self, appid: str, msgcode: str, fingerprint: str) -> Answer | None:
        """The answer already given to ``msgcode``."""
        peer = self._registry.peer_by_appid(appid)
        if peer is None:
            return None
        with self._sessions() as session:
            return self._find(session, peer.id, msgcode, fingerprint)

    def _find(self, session: Session, peer_id: str, msgcode: str, fingerprint: str) -> Answer | None:
        try:
            recorded = self._replays.find(session, replay_key(peer_id, msgcode), fingerprint)
        except KeyReused:
            raise reused(msgcode) from None
        return None if recorded is None else replayed_answer(recorded)

    def _transact(self, request: Inbound, handler: Handler) -> Answer:
        """Answer a processed msgcode as before, or run ``handler`` and record its answer: atomically."""
        peer = self._registry.peer_by_appid(request.appid)
        assert peer is not None  # the router only hands over requests from registered appids
        try:
            outcome = self._replays.transact(
                self._sessions,
                replay_key(peer.id, request.msgcode),
                request.fingerprint,
                lambda session: handler(session, peer.id, request.message),
            )
        except KeyReused:
            raise reused(request.msgcode) from None
        return replayed_answer(outcome) if isinstance(outcome, Recorded) else outcome

    # -- reading -------------------------------------------------------------------------------------------

    def application(self, key: str) -> Application:
        """An application by our id, its applicationId or its guaranteeId."""
        with self._sessions() as session:
            return self._get(session, key)

    def history(self, key: str) -> list[ApplicationEvent]:
        """The audit trail of one application."""
        with self._sessions() as session:
            app = self._get(session, key)
            return list(
                session.scalars(
                    select(ApplicationEvent)
                    .where(ApplicationEvent.application_pk == app.id)
                    .order_by(ApplicationEvent.id)
                )
            )

    def file(self, key: str) -> tuple[str, bytes]:
        """The guarantee letter of an application (issued by us, or fetched and verified)."""
        with self._sessions() as session:
            app = self._get(session, key)
            if app.file_id is None or app.file_name is None:
                raise OperatorError(f"application {app.application_id} has no guarantee file")
            return app.file_name, self._files.get(session, app.file_id)

    # -- internals -------------------------------------------------------------------------------------------

    def _limits(self, session: Session, counterparty_id: str) -> Mapping[str, int]:
        """The table limits ``counterparty_id``'s profile widens, read in ``session``: the registry would
        open a second session, which SQLite's writer lock refuses inside a transaction."""
        row = session.get(Counterparty, counterparty_id)
        return Profile.from_dict(row.profile).limits if row is not None else {}

    def _get(self, session: Session, key: str) -> Application:
        app = session.get(Application, key)
        if app is None or app.side != self.side:
            app = session.scalars(
                select(Application).where(
                    Application.side == self.side,
                    (Application.application_id == key) | (Application.guarantee_id == key),
                )
            ).first()
        if app is None:
            raise OperatorError(f"no application {key}")
        return app

    def _by_application_id(self, session: Session, peer_id: str, application_id: str) -> Application:
        return self._by_wire_id(session, peer_id, Application.application_id, "applicationId", application_id)

    def _by_guarantee_id(self, session: Session, peer_id: str, guarantee_id: str) -> Application:
        return self._by_wire_id(session, peer_id, Application.guarantee_id, "guaranteeId", guarantee_id)

    def _by_wire_id(
        self, session: Session, peer_id: str, column: Any, wire_name: str, value: str
    ) -> Application:
        """This peer's application whose ``column`` is ``value``; 201 naming the wire field otherwise."""
        app = session.scalars(
            select(Application).where(
                Application.side == self.side, Application.counterparty_id == peer_id, column == value
            )
        ).first()
        if app is None:
            raise ProtocolError(Code.UNKNOWN_APPLICATION, f"{wire_name}: {value}")
        return app

    def _move(
        self, session: Session, app: Application, event: Event, actor: str, detail: dict[str, Any]
    ) -> None:
        before = app.stage
        app.stage = next_stage(Stage(app.stage), event).value
        self._log(session, app, before, event.value, actor, detail)

    def _move_or_refuse(
        self, session: Session, app: Application, event: Event, actor: str, detail: dict[str, Any]
    ) -> None:
        """As :meth:`_move`, an illegal move answered with 103 and the reason (for counterparties)."""
        try:
            self._move(session, app, event, actor, detail)
        except IllegalTransition as exc:
            raise ProtocolError(Code.INVALID, str(exc)) from None

    def _operator_move(
        self, session: Session, app: Application, event: Event, actor: str, detail: dict[str, Any]
    ) -> None:
        """As :meth:`_move`, an illegal move refused with an OperatorError (for people)."""
        try:
            self._move(session, app, event, actor, detail)
        except IllegalTransition as exc:
            raise OperatorError(str(exc)) from None

    def record_reveal(self, application_pks: Iterable[str], actor: str, what: str) -> None:
        """Record in each application's audit trail that ``actor`` was shown ``what`` (identity numbers) in clear."""
        with transaction(self._sessions) as session:
            for pk in dict.fromkeys(application_pks):
                app = session.get(Application, pk)
                if app is not None:
                    self._log(session, app, app.stage, "reveal", actor, {"revealed": what})

    def _new_claim(self, session: Session, app: Application, msg: Any, status: str) -> Claim:
        """Record an ELY105 claim on ``app`` (``open`` at the issuer, ``sent`` at the platform)."""
        claim_id = new_id()
        claim = Claim(
            id=claim_id,
            application_pk=app.id,
            status=status,
            request=personal.seal(self._registry.box, m.to_wire(msg), "claims", claim_id),
            claim_amount=msg.claimAmount,
        )
        session.add(claim)
        session.flush()
        return claim

    def _log(
        self,
        session: Session,
        app: Application,
        before: str | None,
        event: str,
        actor: str,
        detail: dict[str, Any],
    ) -> None:
        session.add(
            ApplicationEvent(
                application_pk=app.id,
                event=event,
                from_stage=before,
                to_stage=app.stage,
                actor=actor,
                detail=_jsonable(detail),
            )
        )
