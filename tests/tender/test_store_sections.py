"""The platform's bid sections and quotes on SQLite and PostgreSQL: keys and plain fields sealed at rest,
sections falling due at their opening time, offers compared and one chosen."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderBidSection, TenderQuote
from baohan.adapters.keystore import SecretBox
from baohan.domain.tender import Event
from baohan.gm import SM2PrivateKey
from baohan.services.tender.registry import Registry
from baohan.services.tender.sections import BidSections
from baohan.services.tender.store import Applications, Sealed

BOX = SecretBox("tender sections test passphrase")
BEIJING = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=BEIJING)
OPENING = datetime(2026, 12, 1, 9, 30, tzinfo=BEIJING)
KEY = bytes(range(16))
FIELDS = {"biaoduanno": "BD-SECRET-1", "biaoduanname": "秘密标段", "zbr": "某招标人"}
SEALED = {"biaoduanno": "c2VhbGVkMQ==", "biaoduanname": "c2VhbGVkMg==", "zbr": "c2VhbGVkMw=="}


def add(
    sections: BidSections, session: Session, code: str = "BD-SECRET-1", opening: datetime = OPENING
) -> TenderBidSection:
    return sections.add(
        session,
        project_key=KEY,
        fields={**FIELDS, "biaoduanno": code},
        sealed_values=SEALED,
        kaibiaotime=opening,
        now=NOW,
    )


def test_a_section_keeps_its_key_and_fields_sealed(sessions: sessionmaker[Session]) -> None:
    sections = BidSections(BOX)
    with transaction(sessions) as session:
        section_id = add(sections, session).id
    with sessions() as session:
        section = sections.get(session, section_id)
        assert KEY.hex() not in section.project_key_sealed
        assert "秘密标段" not in section.fields_sealed and "SECRET" not in section.fields_sealed
        assert sections.project_key(section) == KEY
        assert sections.fields(section) == FIELDS
        assert section.sealed_values == SEALED
        assert sections.by_code(session, "BD-SECRET-1").id == section_id  # type: ignore[union-attr]
    with (
        pytest.raises(ValueError, match="bid section BD-SECRET-1 is already stored"),
        transaction(sessions) as s,
    ):
        add(sections, s)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"project_key": b"short"}, "project_key: must be 16 bytes, got 5"),
        ({"fields": {**FIELDS, "colour": "red"}}, "fields: not project fields: colour"),
        ({"sealed_values": {"zbr": "x"}}, "sealed_values: must seal exactly the given fields"),
        ({"fields": {**FIELDS, "biaoduanno": " "}}, "fields.biaoduanno: required"),
        ({"kaibiaotime": datetime(2026, 12, 1)}, "kaibiaotime: must carry a time zone"),
    ],
)
def test_a_bad_section_is_refused_by_name(
    sessions: sessionmaker[Session], change: dict[str, Any], why: str
) -> None:
    given = {"project_key": KEY, "fields": FIELDS, "sealed_values": SEALED, "kaibiaotime": OPENING, **change}
    with sessions() as session, pytest.raises(ValueError, match=why):
        BidSections(BOX).add(session, now=NOW, **given)


def test_sections_fall_due_at_their_opening_once(sessions: sessionmaker[Session]) -> None:
    sections = BidSections(BOX)
    with transaction(sessions) as session:
        early = add(sections, session, "BD-1", OPENING)
        add(sections, session, "BD-2", OPENING + timedelta(days=1))
        with pytest.raises(ValueError, match=r"opens at .*not yet"):
            sections.mark_opened(early, NOW)
    with transaction(sessions) as session:
        assert sections.due(session, OPENING - timedelta(seconds=1)) == []
        due = sections.due(session, OPENING)
        assert [s.code for s in due] == ["BD-1"]
        sections.mark_opened(due[0], OPENING)
    with transaction(sessions) as session:
        assert [s.code for s in sections.due(session, OPENING + timedelta(days=2))] == ["BD-2"]


def test_offers_are_compared_and_one_is_chosen(sessions: sessionmaker[Session]) -> None:
    registry = Registry(sessions, BOX)
    registry.add_identity("default", SM2PrivateKey.generate())
    key = SM2PrivateKey.generate().public_key
    bank, insurer = (
        registry.add(name=n, role="institution", appkey=n, appsecret="s", public_key=key).id
        for n in ("BANK", "INS")
    )
    sections, apps = BidSections(BOX), Applications("platform", BOX)
    with transaction(sessions) as session:
        section = add(sections, session)

        def offer(counterparty_id: str, product: str, rate: str, premium: str) -> TenderQuote:
            return sections.quote(
                session,
                section,
                bidder_code="91330100MA2BIDDER1",
                counterparty_id=counterparty_id,
                product=product,
                rate=Decimal(rate),
                premium=Decimal(premium),
                now=NOW,
            )

        offer(bank, "bid", "0.006", "4800.00")
        cheap = offer(insurer, "bid", "0.004", "3200.00")
        revised = offer(bank, "bid", "0.003", "2400.00")
        with pytest.raises(ValueError, match=r"premium: amount 1\.001 has more than 2 decimal places"):
            offer(bank, "x", "0.1", "1.001")
        listed = sections.quotes(session, section.id, "91330100MA2BIDDER1")
        assert [(q.counterparty_id, q.premium) for q in listed] == [
            (bank, Decimal("2400.00")),
            (insurer, Decimal("3200.00")),
        ]
        app, _ = apps.add(
            session,
            bank,
            Sealed("P-1", "TC001", "ZGF0YQ==", "ZW52"),
            now=NOW,
            actor="bidder",
            bid_section_id=section.id,
        )
        sections.choose(session, revised.id, app.id)
        with pytest.raises(ValueError, match="already chose an offer for this bid section"):
            sections.choose(session, cheap.id, "another")
        with pytest.raises(ValueError, match="already chosen by the bidder; its quote is fixed"):
            offer(bank, "bid", "0.001", "800.00")
        # The chosen institution's application was given up: the bidder may choose again.
        apps.move(session, app, Event.GIVE_UP, now=NOW, actor="bidder")
        other, _ = apps.add(
            session, insurer, Sealed("P-2", "TC001", "ZGF0YQ==", "ZW52"), now=NOW, actor="bidder"
        )
        assert sections.choose(session, cheap.id, other.id).application_pk == other.id
