"""What operators see of tender applications and their history (admin API and CLI), paged and filtered.

A project field (biaoduanno, biaoduanname, zbr, zbrorgnum) is shown only in its sealed form until the
project key arrived (baohanrestore): before that the plain fields are not shown, even if a row held them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.tables import TenderApplication, TenderEvent
from baohan.domain.tender import Stage
from baohan.services.views import Page, Period, Window, paged, view

_APPLICATION = (
    "id",
    "side",
    "counterparty_id",
    "applyno",
    "platformcode",
    "bid_section_id",
    "stage",
    "bidder_name",
    "bidder_code",
    "bzj_amount",
    "sealed_fields",
    "baohanno",
    "inst_name",
    "rate",
    "cost",
    "generated_at",
    "payer_name",
    "payer_account",
    "paid_amount",
    "paid_at",
    "kaibiaotime",
    "restored_at",
    "quit_at",
    "created_at",
    "updated_at",
)


def application_view(app: TenderApplication) -> dict[str, Any]:
    """An application as operators see it: money as strings, times in Beijing time, project fields sealed
    until restored."""
    shown = view(app, _APPLICATION)
    # restored_at is set only with the project key, and only once the bid opened (Applications).
    shown["project_fields"] = dict(app.project_fields or {}) if app.restored_at is not None else None
    return shown


def event_view(event: TenderEvent) -> dict[str, Any]:
    """One history entry: what happened, the stages it moved between, who did it and when."""
    return view(event, ("event", "from_stage", "to_stage", "actor", "detail", "at"))


@dataclass(frozen=True)
class Filters:
    """What a listing keeps: one side's copies, a stage, one counterparty, a creation period."""

    side: str
    stage: str | None = None
    counterparty_id: str | None = None
    period: Period = field(default_factory=Period)

    def __post_init__(self) -> None:
        if self.stage is not None and self.stage not in set(Stage):
            raise ValueError(f"stage must be one of {', '.join(Stage)}, not {self.stage!r}")


def applications(sessions: sessionmaker[Session], window: Window, filters: Filters) -> Page:
    """Applications for operators, newest first, one window of them."""
    query = select(TenderApplication).where(TenderApplication.side == filters.side)
    if filters.stage is not None:
        query = query.where(TenderApplication.stage == filters.stage)
    if filters.counterparty_id is not None:
        query = query.where(TenderApplication.counterparty_id == filters.counterparty_id)
    query = query.where(*filters.period.where(TenderApplication.created_at)).order_by(
        TenderApplication.created_at.desc(), TenderApplication.id.desc()
    )
    with sessions() as session:
        return paged(session, query, window, lambda row: application_view(row[0]))


def history(sessions: sessionmaker[Session], application_pk: str) -> list[dict[str, Any]]:
    """An application's history for operators, oldest first."""
    with sessions() as session:
        rows = session.scalars(
            select(TenderEvent)
            .where(TenderEvent.application_pk == application_pk)
            .order_by(TenderEvent.at, TenderEvent.id)
        )
        return [event_view(row) for row in rows]
