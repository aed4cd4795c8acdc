"""The platform's bid sections (标段) and the quotes institutions give bidders for them.

A bid section holds the project key that seals its project fields until the bid opens; the key and the
plain fields are sealed at rest by the key store, and only the fields' wire form (sealed with the project
key) is kept in clear. At ``kaibiaotime`` the section falls due: its guarantees are restored.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import TenderApplication, TenderBidSection, TenderQuote
from baohan.adapters.keystore import SecretBox
from baohan.domain.ids import new_id
from baohan.domain.tender import FINAL, Stage, check_money, check_rate
from baohan.services.tender.store import PROJECT_FIELDS

PROJECT_KEY_BYTES = 16


def section_key_context(section_id: str) -> str:
    """The record a bid section's sealed project key belongs to."""
    return f"tender_bid_section:{section_id}:project_key"


def section_fields_context(section_id: str) -> str:
    """The record a bid section's sealed plain fields belong to."""
    return f"tender_bid_section:{section_id}:fields"


class BidSections:
    """The platform's bid sections and their quotes."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def add(
        self,
        session: Session,
        *,
        project_key: bytes,
        fields: dict[str, str],
        sealed_values: dict[str, str],
        kaibiaotime: datetime,
        now: datetime,
    ) -> TenderBidSection:
        """Store a bid section: ``fields`` plain (biaoduanno required), ``sealed_values`` their wire form under
        ``project_key``; ValueError naming what is wrong, or when biaoduanno is already stored."""
        if len(project_key) != PROJECT_KEY_BYTES:
            raise ValueError(f"project_key: must be {PROJECT_KEY_BYTES} bytes, got {len(project_key)}")
        for name, given in (("fields", fields), ("sealed_values", sealed_values)):
            unknown = sorted(set(given) - set(PROJECT_FIELDS))
            if unknown:
                raise ValueError(f"{name}: not project fields: {', '.join(unknown)}")
        if set(sealed_values) != set(fields):
            raise ValueError("sealed_values: must seal exactly the given fields")
        code = fields.get("biaoduanno", "")
        if not code.strip():
            raise ValueError("fields.biaoduanno: required")
        if kaibiaotime.utcoffset() is None:
            raise ValueError("kaibiaotime: must carry a time zone")
        section_id = new_id()
        plain = json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8")
        section = TenderBidSection(
            id=section_id,
            code=code,
            project_key_sealed=self._box.seal(project_key, context=section_key_context(section_id)),
            fields_sealed=self._box.seal(plain, context=section_fields_context(section_id)),
            sealed_values=dict(sealed_values),
            kaibiaotime=kaibiaotime,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(section)
                session.flush()
        except IntegrityError:
            raise ValueError(f"fields.biaoduanno: bid section {code} is already stored") from None
        return section

    def get(self, session: Session, section_id: str) -> TenderBidSection:
        """The bid section ``section_id``; LookupError if there is none."""
        section = session.get(TenderBidSection, section_id)
        if section is None:
            raise LookupError(f"no bid section {section_id}")
        return section

    def by_code(self, session: Session, code: str) -> TenderBidSection | None:
        """The bid section numbered ``code`` (biaoduanno), or None."""
        return session.scalars(select(TenderBidSection).where(TenderBidSection.code == code)).first()

    def project_key(self, section: TenderBidSection) -> bytes:
        """The section's project key, opened from the key store."""
        return self._box.open(section.project_key_sealed, context=section_key_context(section.id))

    def fields(self, section: TenderBidSection) -> dict[str, str]:
        """The section's plain project fields, opened from the key store (for the platform's own use)."""
        plain = self._box.open(section.fields_sealed, context=section_fields_context(section.id))
        return dict(json.loads(plain))

    def due(self, session: Session, now: datetime, limit: int = 100) -> list[TenderBidSection]:
        """Sections whose bid opened by ``now`` and whose restores are not yet scheduled, earliest first."""
        return list(
            session.scalars(
                select(TenderBidSection)
                .where(TenderBidSection.kaibiaotime <= now, TenderBidSection.opened_at.is_(None))
                .order_by(TenderBidSection.kaibiaotime, TenderBidSection.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )

    def mark_opened(self, section: TenderBidSection, now: datetime) -> None:
        """Record that the section's restores were scheduled (at or after its opening time)."""
        if now < section.kaibiaotime:
            raise ValueError(
                f"bid section {section.code} opens at {section.kaibiaotime.isoformat()}, not yet"
            )
        section.opened_at = now

    # -- quotes ----------------------------------------------------------------------------------------------

    def quote(
        self,
        session: Session,
        section: TenderBidSection,
        *,
        bidder_code: str,
        counterparty_id: str,
        product: str,
        rate: Decimal,
        premium: Decimal,
        now: datetime,
    ) -> TenderQuote:
        """Keep an institution's offer to a bidder for the section; the same product again replaces its
        rate and premium (an institution may revise its offer until one is chosen)."""
        check_rate("rate", rate)
        check_money("premium", premium)
        existing = session.scalars(
            select(TenderQuote).where(
                TenderQuote.bid_section_id == section.id,
                TenderQuote.bidder_code == bidder_code,
                TenderQuote.counterparty_id == counterparty_id,
                TenderQuote.product == product,
            )
        ).first()
        if existing is not None:
            if existing.chosen:
                raise ValueError(f"product {product}: already chosen by the bidder; its quote is fixed")
            existing.rate, existing.premium = rate, premium
            return existing
        quote = TenderQuote(
            id=new_id(),
            bid_section_id=section.id,
            bidder_code=bidder_code,
            counterparty_id=counterparty_id,
            product=product,
            rate=rate,
            premium=premium,
            chosen=False,
            created_at=now,
        )
        session.add(quote)
        return quote

    def quotes(self, session: Session, section_id: str, bidder_code: str) -> list[TenderQuote]:
        """Every offer for the bidder on the section, cheapest first, to choose from."""
        return list(
            session.scalars(
                select(TenderQuote)
                .where(TenderQuote.bid_section_id == section_id, TenderQuote.bidder_code == bidder_code)
                .order_by(TenderQuote.premium, TenderQuote.created_at, TenderQuote.id)
            )
        )

    def choose(self, session: Session, quote_id: str, application_pk: str) -> TenderQuote:
        """The bidder chose this offer: it is linked to the application sent; one choice per section."""
        quote = session.get(TenderQuote, quote_id, with_for_update=True)
        if quote is None:
            raise LookupError(f"no quote {quote_id}")
        others = self.quotes(session, quote.bid_section_id, quote.bidder_code)
        for other in others:
            if other.chosen and other.id != quote.id and not self._ended(session, other.application_pk):
                raise ValueError(f"bidder {quote.bidder_code} already chose an offer for this bid section")
        quote.chosen, quote.application_pk = True, application_pk
        return quote

    @staticmethod
    def _ended(session: Session, application_pk: str | None) -> bool:
        """True when the application of an earlier choice ended (given up, rejected, quit): choose again."""
        app = session.get(TenderApplication, application_pk) if application_pk else None
        return app is not None and Stage(app.stage) in FINAL
