"""What the tender store tests share: a key store, times around a bid opening, registered platforms, and
applications walked to a given stage."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.tables import TenderApplication
from baohan.adapters.keystore import SecretBox
from baohan.domain.tender import Event
from baohan.gm import SM2PrivateKey, SM4Mode, sm4_encrypt
from baohan.services.tender.registry import Registry
from baohan.services.tender.store import Applications, Opened, Sealed

BOX = SecretBox("tender store test passphrase")
BEIJING = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=BEIJING)
OPENING = datetime(2026, 12, 1, 9, 30, tzinfo=BEIJING)
AFTER = OPENING + timedelta(minutes=5)
PROJECT_KEY = bytes(range(16))
PLAIN = {
    "biaoduanno": "BD-2026-SECRET-0042",
    "biaoduanname": "城东污水处理厂二期标段",
    "zbr": "某某市水务集团有限公司",
    "zbrorgnum": "91330100MA2SECRET7",
}


def sealed_value(value: str) -> str:
    """A project field as the platform seals it: Base64(SM4-ECB(P, UTF-8))."""
    return base64.b64encode(sm4_encrypt(PROJECT_KEY, value.encode(), SM4Mode.ECB)).decode()


SEALED = {name: sealed_value(value) for name, value in PLAIN.items()}
OPENED = Opened("某某建设有限公司", "91330100MA2BIDDER1", Decimal("800000.00"), SEALED)


def sealed(applyno: str = "A-1", applydata: str = "c2VhbGVk") -> Sealed:
    """A baohanapply's sealed content."""
    return Sealed(applyno, "TC001", applydata, "ZW52ZWxvcGU=")


@pytest.fixture
def peers(sessions: sessionmaker[Session]) -> tuple[str, str]:
    """Two registered platforms' counterparty ids."""
    registry = Registry(sessions, BOX)
    registry.add_identity("default", SM2PrivateKey.generate())
    key = SM2PrivateKey.generate().public_key
    one = registry.add(name="TC", role="platform", appkey="K1", appsecret="s", public_key=key)
    two = registry.add(name="TC2", role="platform", appkey="K2", appsecret="s", public_key=key)
    return one.id, two.id


SEALED_LINE = [Event.AGREE, Event.APPROVE, Event.PAY, Event.UPLOAD_SEALED, Event.COMPLETE_SEALED]


def walk(issuer: Applications, session: Session, app: TenderApplication, events: list[Event]) -> None:
    """Move ``app`` through ``events`` (opening it first when OPEN is not among them and it is applied)."""
    if app.stage == "applied" and Event.OPEN not in events:
        issuer.record_opened(session, app, OPENED, now=NOW, actor="bidder")
    for event in events:
        kaibiaotime = OPENING if event is Event.RESTORE else None
        now = AFTER if event in (Event.RESTORE, Event.COMPLETE_PLAIN, Event.REQUEST_INVOICE) else NOW
        issuer.move(session, app, event, now=now, actor="issuer", kaibiaotime=kaibiaotime)
