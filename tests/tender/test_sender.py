"""The tender outbox sender over real HTTP on loopback: a notice written with its change, posted signed to
the counterparty (the recording endpoint of tests/tender/wire_peer.py stands in for the platform until
the real platform role lands), refusals dead at once unless a later try may change them, transport
errors retried, hooks told of every answer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters import outbox
from baohan.adapters.db.engine import transaction
from baohan.adapters.outbox import OutboxStatus, PermanentFailure
from baohan.protocols.tender.client import TenderRefused, TenderTransportError
from baohan.protocols.tender.wire import TenderError
from baohan.services.delivery import Courier
from baohan.services.tender.roles import Context
from baohan.services.tender.sender import Delivery, TenderSender, kind, message_fields, message_payload
from baohan.web.serving import free_port
from tests.tender.role_kit import BOX, add_application, add_platform, context, outbox_messages
from tests.tender.wire_peer import PLATFORM_KEY, Served, channel, serving

NOTICE = {
    "applyno": "A-1",
    "baohanno": "G-1",
    "payername": "某建设有限公司付款人",
    "payeraccount": "6222000011119999",
    "instname": "某担保有限公司",
    "generatetime": "2026-11-30 10:00:00",
    "rate": Decimal("0.005"),
    "cost": Decimal("500.00"),
    "applystatus": "1",
}


@pytest.fixture
def http() -> Any:
    with httpx.Client(timeout=10) as client:
        yield client


def _notify(ctx: Context, app_id: str, interface: str, fields: dict[str, Any]) -> None:
    with transaction(ctx.sessions) as session:
        app = ctx.store.get(session, app_id)
        ctx.notify(session, app, interface, fields)


def _setup(sessions: sessionmaker[Session], served: Served, **profile: Any) -> tuple[Context, str]:
    ctx = context(sessions)
    peer = add_platform(ctx, channel(**profile), served.platform_url)
    return ctx, add_application(ctx, peer)


def test_a_notice_is_posted_signed_with_its_fields(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(ctx, app_id, "baohannotice", NOTICE)
        [message] = outbox_messages(sessions, kind("baohannotice"))
        # Personal fields wait sealed; the others as they will be sent.
        assert "6222000011119999" not in str(message.payload)
        assert "某建设有限公司付款人" not in str(message.payload)
        assert message.payload["fields"]["cost"] == "500.00"
        seen: list[Delivery] = []
        TenderSender(ctx.registry, http, on_answer={"baohannotice": seen.append})(message)
        [received] = served.platform.handled
        assert received.interface == "baohannotice"
        assert received.model.payeraccount == "6222000011119999"
        assert received.model.cost == Decimal("500.00")
        assert received.fields["cost"] == "500.00"  # amounts as text by default
        assert [d.ok for d in seen] == [True]


def test_amounts_go_as_numbers_when_the_profile_says(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel(amounts_as_numbers=True)) as served:
        ctx, app_id = _setup(sessions, served, amounts_as_numbers=True)
        _notify(ctx, app_id, "baohannotice", NOTICE)
        [message] = outbox_messages(sessions)
        TenderSender(ctx.registry, http)(message)
        [received] = served.platform.handled
        assert not isinstance(received.fields["cost"], str)
        assert received.model.cost == Decimal("500.00")


def test_a_retry_is_the_same_request_and_the_receiver_answers_it_once(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(ctx, app_id, "baohannotice", NOTICE)
        [message] = outbox_messages(sessions)
        sender = TenderSender(ctx.registry, http)
        sender(message)
        sender(message)
        assert len(served.platform.handled) == 1


def test_a_refusal_is_dead_at_once_and_the_hook_hears_it(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(ctx, app_id, "giveupnotice", {"applyno": "A-1"})
        served.platform.fail_with = TenderError("applyno: already confirmed to the bidder")
        seen: list[Delivery] = []
        sender = TenderSender(ctx.registry, http, on_answer={"giveupnotice": seen.append})
        [message] = outbox_messages(sessions)
        with pytest.raises(PermanentFailure, match="already confirmed"):
            sender(message)
        assert [(d.ok, d.reason) for d in seen] == [(False, "applyno: already confirmed to the bidder")]
        # Through the dispatcher: a dead letter at the first attempt.
        courier = Courier(sender.kinds(["giveupnotice"]))
        outbox.Dispatcher(sessions, courier).run_once()
        [dead] = outbox_messages(sessions)
        assert dead.status is OutboxStatus.DEAD
        assert dead.attempts == 1


def test_refusals_of_an_interface_named_retryable_are_retried(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(
            ctx,
            app_id,
            "baohanfilecompletenotice",
            {
                "applyno": "A-1",
                "baohanno": "G-1",
                "key": "a2V5",
                "iv": "aXY=",
                "baohanfilemd5": "0" * 32,
                "filetype": "1",
            },
        )
        served.platform.fail_with = TenderError("slices: 2 of 3 received")
        [message] = outbox_messages(sessions)
        with pytest.raises(TenderRefused):
            TenderSender(ctx.registry, http, retry_refusals={"baohanfilecompletenotice"})(message)
        with pytest.raises(PermanentFailure):
            TenderSender(ctx.registry, http)(message)


def test_a_paused_peer_is_retried(sessions: sessionmaker[Session], http: httpx.Client) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(ctx, app_id, "baohannotice", NOTICE)
        served.platform.is_paused = True
        [message] = outbox_messages(sessions)
        with pytest.raises(TenderRefused, match="paused"):
            TenderSender(ctx.registry, http)(message)
        courier = Courier(TenderSender(ctx.registry, http).kinds(["baohannotice"]))
        outbox.Dispatcher(sessions, courier).run_once()
        [waiting] = outbox_messages(sessions)
        assert waiting.status is OutboxStatus.PENDING
        assert waiting.attempts == 1


def test_an_unreachable_peer_is_retried(sessions: sessionmaker[Session], http: httpx.Client) -> None:
    ctx = context(sessions)
    peer = add_platform(ctx, channel(), f"http://127.0.0.1:{free_port()}/tender")
    app_id = add_application(ctx, peer)
    _notify(ctx, app_id, "baohannotice", NOTICE)
    [message] = outbox_messages(sessions)
    with pytest.raises(TenderTransportError):
        TenderSender(ctx.registry, http)(message)


def test_a_4xx_is_dead_and_a_peer_without_url_too(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel()) as served:
        ctx = context(sessions)
        peer = add_platform(ctx, channel(), served.base + "/nowhere")
        app_id = add_application(ctx, peer)
        _notify(ctx, app_id, "baohannotice", NOTICE)
        [message] = outbox_messages(sessions)
        with pytest.raises(PermanentFailure, match="HTTP 404"):
            TenderSender(ctx.registry, http)(message)
    other = add_platform(ctx, channel("AK-2"))
    app2 = add_application(ctx, other, "A-2")
    _notify(ctx, app2, "giveupnotice", {"applyno": "A-2"})
    message = outbox_messages(sessions, kind("giveupnotice"))[0]
    with pytest.raises(PermanentFailure, match="no endpoint URL"):
        TenderSender(ctx.registry, http)(message)


def test_downloadpublickey_data_reaches_its_hook(sessions: sessionmaker[Session], http: httpx.Client) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(ctx, app_id, "downloadpublickey", {"applyno": "A-1"})
        keys: list[str] = []
        sender = TenderSender(ctx.registry, http)
        sender.on_answer("downloadpublickey", lambda d: keys.append(d.data["publickey"]))
        sender(outbox_messages(sessions)[0])
        assert keys == [PLATFORM_KEY.public_key.to_hex()]


def test_payload_round_trip_and_names_checked() -> None:
    payload = message_payload(BOX, NOTICE, "d-1")
    assert message_fields(BOX, payload, "d-1") == NOTICE
    with pytest.raises(
        PermanentFailure, match="payeraccount: the sealed field does not open"
    ):  # bound to its message: another dedupe key does not open it
        message_fields(BOX, payload, "d-2")
    with pytest.raises(ValueError, match="not a tender interface"):
        kind("ELY102")
    with pytest.raises(TypeError, match="rate"):
        message_payload(BOX, {"rate": 0.5}, "d-3")


def test_a_request_its_own_table_refuses_is_never_sent(
    sessions: sessionmaker[Session], http: httpx.Client
) -> None:
    with serving(channel()) as served:
        ctx, app_id = _setup(sessions, served)
        _notify(ctx, app_id, "baohannotice", {**NOTICE, "instname": "担" * 201})
        [message] = outbox_messages(sessions)
        with pytest.raises(PermanentFailure, match="baohannotice cannot be sent: instname"):
            TenderSender(ctx.registry, http)(message)
        assert served.platform.handled == []
