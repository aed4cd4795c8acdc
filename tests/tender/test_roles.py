"""TenderRoleBase behind the real router on loopback: handlers found by interface, each run in one
transaction with its replay record (a repeat answered the same and doing nothing new, other content
under the same key refused, a raising handler leaving nothing behind), the pause, unknown appkeys."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import PlainTextResponse

from baohan.adapters.db.tables import IdempotencyRecord
from baohan.protocols.tender.client import TenderClient, TenderRefused
from baohan.protocols.tender.endpoint import Answer, Inbound
from baohan.protocols.tender.router import PAUSED, TenderWire
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.roles import Context, TenderRoleBase
from baohan.web.front import ProtocolFront
from baohan.web.serving import BackgroundServer, free_port
from tests.tender.role_kit import add_application, add_platform, context, outbox_messages
from tests.tender.wire_peer import channel, valid_fields


class Issuer(TenderRoleBase):
    side = "issuer"


def _giveup(ctx: Context, session: Session, request: Inbound) -> Answer:
    app = ctx.store.by_applyno(session, ctx.registry.peer_by_appkey(request.appkey).id, request.key)  # type: ignore[union-attr]
    if app is None:
        return Answer(False, f"applyno: {request.key} is unknown")
    ctx.notify(session, app, "giveupnotice", {"applyno": app.applyno})
    if request.model.applyno.endswith("!"):
        raise TenderError("applyno: refused after writing")  # the notice must not survive
    return Answer(data={"seen": app.applyno})


def _broken(ctx: Context, session: Session, request: Inbound) -> Answer:
    raise RuntimeError("a bug")


@contextmanager
def served(role: TenderRoleBase) -> Iterator[str]:
    async def not_found(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("not found", status_code=404)(scope, receive, send)

    front = ProtocolFront(not_found, [TenderWire(role, role.served)])
    server = BackgroundServer(front, free_port(), lifespan="off")
    try:
        yield server.url + "/tender"
    finally:
        server.stop()


def _records(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0)


@pytest.fixture
def setup(sessions: sessionmaker[Session]) -> Iterator[tuple[Context, Issuer, str, TenderClient]]:
    ctx = context(sessions)
    peer = add_platform(ctx, channel())
    add_application(ctx, peer, "A-1")
    add_application(ctx, peer, "A-2!")
    role = Issuer(ctx, {"giveupapply": _giveup, "quitapply": _broken})
    with served(role) as url, httpx.Client(timeout=10) as http:
        yield ctx, role, url, TenderClient(http)


def test_a_handler_runs_once_and_a_repeat_is_answered_the_same(setup: Any) -> None:
    ctx, _role, url, client = setup
    fields = valid_fields("giveupapply", "A-1")
    assert client.call(url, "giveupapply", fields, channel()) == {"seen": "A-1"}
    assert client.call(url, "giveupapply", fields, channel()) == {"seen": "A-1"}
    assert len(outbox_messages(ctx.sessions, "tender.giveupnotice")) == 1
    assert _records(ctx.sessions) == 1


def test_other_content_under_the_same_key_is_refused(setup: Any) -> None:
    _ctx, _role, url, client = setup
    client.call(url, "giveupapply", valid_fields("giveupapply", "A-1"), channel())
    other = {**valid_fields("giveupapply", "A-1"), "platformcode": "P-0002"}
    with pytest.raises(TenderRefused, match="applyno: A-1 was already used for a different giveupapply"):
        client.call(url, "giveupapply", other, channel())


def test_a_recorded_refusal_is_a_refusal_again(setup: Any) -> None:
    ctx, _role, url, client = setup
    fields = valid_fields("giveupapply", "A-9")
    for _ in range(2):
        with pytest.raises(TenderRefused, match="applyno: A-9 is unknown"):
            client.call(url, "giveupapply", fields, channel())
    assert _records(ctx.sessions) == 1


def test_a_raising_handler_leaves_nothing(setup: Any) -> None:
    ctx, _role, url, client = setup
    with pytest.raises(TenderRefused, match="refused after writing"):
        client.call(url, "giveupapply", valid_fields("giveupapply", "A-2!"), channel())
    assert outbox_messages(ctx.sessions) == []
    assert _records(ctx.sessions) == 0
    with pytest.raises(TenderRefused, match="internal error"):
        client.call(url, "quitapply", valid_fields("quitapply", "A-1"), channel())
    assert _records(ctx.sessions) == 0


def test_pause_and_unserved_and_unknown_appkey(setup: Any) -> None:
    ctx, role, url, client = setup
    role.pause(True)
    with pytest.raises(TenderRefused, match=PAUSED):
        client.call(url, "giveupapply", valid_fields("giveupapply", "A-1"), channel())
    role.pause(False)
    assert client.call(url, "giveupapply", valid_fields("giveupapply", "A-1"), channel()) == {"seen": "A-1"}
    with pytest.raises(TenderRefused, match="appkey: AK-X is not registered"):
        client.call(url, "giveupapply", valid_fields("giveupapply", "A-1"), channel("AK-X"))
    assert role.served == {"giveupapply", "quitapply"}
    with pytest.raises(ValueError, match="not tender interfaces: ELY101"):
        Issuer(ctx, {"ELY101": _giveup})
