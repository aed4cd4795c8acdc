"""What the aftercare tests share: the issuer's aftercare handlers served for real on loopback (a
TenderRoleBase behind the tender wire), a recording platform endpoint (tests/tender/wire_peer.py's
Recorder, standing in for the platform role until it lands) receiving our notices through the real
sender and outbox, a shiftable clock, and applications walked to a stage with the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from baohan.adapters.db.engine import transaction
from baohan.adapters.outbox import Dispatcher, RetryPolicy
from baohan.domain.tender import Event
from baohan.protocols.tender.client import TenderClient, TenderRefused
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.tables import ISSUER_SERVES, PLATFORM_SERVES
from baohan.services.delivery import Courier
from baohan.services.tender.aftercare import (
    AFTERCARE_HANDLERS,
    Aftercare,
    AftercareSettings,
    aftercare_hooks,
    aftercare_jobs,
)
from baohan.services.tender.roles import Context, TenderRoleBase
from baohan.services.tender.sender import TenderSender
from baohan.services.tender.store import Opened
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer, free_port
from tests.tender.role_kit import add_application, add_platform, context
from tests.tender.store_fixtures import SEALED
from tests.tender.wire_peer import Recorder, valid_fields

NOTICES = ("invoicenotice", "quitnotice", "giveupnotice")
PREMIUM = Decimal("500.00")
BZJ = Decimal("800000.00")


@dataclass(frozen=True)
class Settings:
    """The slice of the issuer's settings aftercare reads."""

    public_url: str = "https://issuer.example/"
    claim_wait: timedelta = timedelta(hours=1)
    aftercare: AftercareSettings = field(
        default_factory=lambda: AftercareSettings(seller_code="91330100MA2SELLER9")
    )


class Issuer(TenderRoleBase):
    """The issuer's endpoint with only aftercare's handlers."""

    side = "issuer"


class Clock:
    """The real time, shifted by ``shift`` (the router checks request timestamps against the real time)."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


@dataclass
class Stage:
    """A served issuer and platform recorder, with what the tests drive them by."""

    ctx: Context
    clock: Clock
    platform: Recorder
    issuer_url: str
    http: httpx.Client
    dispatcher: Dispatcher
    peers: dict[str, str]  # appkey -> counterparty id

    @property
    def aftercare(self) -> Aftercare:
        return Aftercare(self.ctx)

    def call(self, channel: TenderChannel, interface: str, **fields: Any) -> tuple[bool, str]:
        """Call ``interface`` of the issuer as the platform of ``channel``: (ok, message)."""
        try:
            TenderClient(self.http).call(self.issuer_url, interface, fields, channel)
        except TenderRefused as exc:
            return False, exc.message
        return True, ""

    def app(self, appkey: str, applyno: str, upto: str, *, opened_ago: timedelta = timedelta(hours=1)) -> str:
        """An application of the platform ``appkey`` walked to ``upto`` (applied, agreed, approved, paid,
        sealed, restored); baohanno G-<applyno>, premium 500.00; restored ones opened ``opened_ago``."""
        app_id = add_application(self.ctx, _peer(self, appkey), applyno, now=self.clock())
        steps = ["applied", "agreed", "approved", "paid", "sealed", "restored"]
        with transaction(self.ctx.sessions) as session:
            store, now = self.ctx.store, self.clock()
            app = store.get(session, app_id)
            for step in steps[1 : steps.index(upto) + 1]:
                if step == "agreed":
                    store.record_opened(
                        session,
                        app,
                        Opened("某某建设有限公司", "91330100MA2BIDDER1", BZJ, SEALED),
                        now=now,
                        actor="t",
                    )
                    store.move(session, app, Event.AGREE, now=now, actor="t")
                elif step == "approved":
                    store.approve(
                        session,
                        app,
                        baohanno=f"G-{applyno}",
                        rate=Decimal("0.005"),
                        cost=PREMIUM,
                        inst_name="某某担保有限公司",
                        now=now,
                        actor="t",
                    )
                elif step == "paid":
                    store.record_payment(session, app, amount=PREMIUM, now=now, actor="t")
                elif step == "sealed":
                    store.move(session, app, Event.UPLOAD_SEALED, now=now, actor="t")
                    store.move(session, app, Event.COMPLETE_SEALED, now=now, actor="t")
                else:
                    store.move(session, app, Event.RESTORE, now=now, actor="t", kaibiaotime=now - opened_ago)
                    store.move(session, app, Event.COMPLETE_PLAIN, now=now, actor="t")
        return app_id

    def stage_of(self, app_id: str) -> str:
        with self.ctx.sessions() as session:
            return self.ctx.store.get(session, app_id).stage

    def history(self, app_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self.ctx.sessions() as session:
            app = self.ctx.store.get(session, app_id)
            return [(e.event, dict(e.detail)) for e in self.ctx.store.history(session, app)]

    def deliver(self) -> int:
        """Run the outbox once at the shifted clock."""
        return self.dispatcher.run_once()

    def asks_again(self, appkey: str, notice: str, key: str) -> None:
        """The platform asks again (a second quitapply or invoiceapply): like our handlers do for its
        requests, it lets go of its replay record of the ``notice`` that answered the first ask, since the
        spec keys a notice by applyno (invoicenotice: baohanno) alone."""
        self.platform.answers.pop((appkey, notice, key), None)

    def received(self, interface: str) -> list[dict[str, Any]]:
        """What the platform recorder accepted of ``interface``, oldest first."""
        return [dict(r.fields) for r in self.platform.handled if r.interface == interface]


def _peer(stage: Stage, appkey: str) -> Any:
    peer = stage.ctx.registry.peer_by_appkey(appkey)
    assert peer is not None
    return peer


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("not found", status_code=404)(scope, receive, send)


@contextmanager
def staged(
    sessions: sessionmaker[Session], *channels: TenderChannel, platform: Recorder | None = None
) -> Iterator[Stage]:
    """The issuer's aftercare served with every platform of ``channels`` registered (one recorder
    platform for all of them) until the block ends."""
    clock = Clock()
    ctx = context(sessions, settings=Settings(), clock=clock)
    recorder = platform or Recorder()
    recorder.channels.update({c.appkey: c for c in channels})
    front = ProtocolFront(
        _not_found,
        [
            TenderWire(Issuer(ctx, AFTERCARE_HANDLERS), ISSUER_SERVES, prefix="/issuer/tender"),
            TenderWire(recorder, PLATFORM_SERVES, prefix="/platform/tender"),
        ],
    )
    server = BackgroundServer(front, free_port(), lifespan="off")
    peers = {c.appkey: add_platform(ctx, c, f"{server.url}/platform/tender").id for c in channels}
    try:
        with httpx.Client(timeout=10) as http:
            sender = TenderSender(ctx.registry, http, on_answer=aftercare_hooks(ctx))
            courier = Courier(
                {**sender.kinds(NOTICES), **aftercare_jobs(ctx, http)}, files=ctx.files, sessions=sessions
            )
            dispatcher = Dispatcher(
                sessions, courier, policy=RetryPolicy(base=timedelta(seconds=5), jitter=0), clock=clock
            )
            yield Stage(ctx, clock, recorder, f"{server.url}/issuer/tender", http, dispatcher, peers)
    finally:
        server.stop()


__all__ = ["Stage", "staged", "valid_fields"]
