"""What the tender role tests share: a Context on a test database, with one platform registered under
the appkey the loopback recorder of :mod:`tests.tender.wire_peer` knows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.files import DatabaseFileStore
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.services.idempotency import Replays
from baohan.services.switches import Switches
from baohan.services.tender.registry import Peer, Registry
from baohan.services.tender.roles import Context
from baohan.services.tender.store import Applications, Sealed
from tests.tender.wire_peer import ISSUER_KEY, PLATFORM_KEY

BOX = SecretBox("tender role test passphrase")


def context(
    sessions: sessionmaker[Session], side: str = "issuer", settings: Any = None, **kwargs: Any
) -> Context:
    """A Context for ``side`` on ``sessions``, our identity registered."""
    files = DatabaseFileStore()
    registry = Registry(sessions, BOX)
    try:
        registry.identity("default")
    except KeyError:
        registry.add_identity("default", ISSUER_KEY)
    return Context(
        sessions=sessions,
        registry=registry,
        store=Applications(side, BOX),
        files=files,
        box=BOX,
        replays=Replays(files),
        switches=Switches(sessions, ttl=0),
        settings=settings,
        **kwargs,
    )


def add_platform(ctx: Context, like: TenderChannel, endpoint_url: str | None = None) -> Peer:
    """Register the platform of ``like`` (its appkey, appsecret and profile) at ``endpoint_url``."""
    return ctx.registry.add(
        name=f"platform {like.appkey}",
        role="platform",
        appkey=like.appkey,
        appsecret=like.appsecret,
        public_key=PLATFORM_KEY.public_key,
        endpoint_url=endpoint_url,
        profile=like.profile,
    )


def add_application(ctx: Context, peer: Peer, applyno: str = "A-1", now: datetime | None = None) -> str:
    """A stored application of ``peer``; its id."""
    with transaction(ctx.sessions) as session:
        app, _ = ctx.store.add(
            session,
            peer.id,
            Sealed(applyno, "P-0001", "c2VhbGVk", "ZW52ZWxvcGU="),
            now=now or ctx.clock(),
            actor="test",
        )
        return app.id


def outbox_messages(sessions: sessionmaker[Session], kind: str | None = None) -> list[OutboxMessage]:
    """The outbox's messages (of ``kind``), oldest first, detached."""
    with sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        if kind is not None:
            query = query.where(OutboxMessage.kind == kind)
        rows = list(session.scalars(query))
        session.expunge_all()
        return rows
