"""What operators see of applications, claims, refund requests and the audit trail (admin API and CLI),
and their paged, filtered listings.

Personal identity numbers are masked (``110101********1234``) unless the caller reveals them, which the
caller records in the audit trail (:meth:`~baohan.services.procurement.role.RoleService.record_reveal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters import personal
from baohan.adapters.db.tables import Application, ApplicationEvent, Claim, RefundRequest
from baohan.adapters.keystore import SecretBox
from baohan.services.views import Page, Period, Window, paged, view

_APPLICATION = (
    "id",
    "application_id",
    "stage",
    "counterparty_id",
    "supplier_name",
    "supplier_code",
    "purchaser_name",
    "purchaser_code",
    "project_code",
    "project_name",
    "bid_code",
    "bid_name",
    "amount",
    "term_months",
    "premium",
    "rate",
    "decision_reasons",
    "extends_id",
    "guarantee_id",
    "valid_from",
    "valid_to",
    "issued_at",
    "paid_amount",
    "paid_at",
    "pay_type",
    "fail_reason",
    "file_name",
    "verification",
    "created_at",
    "updated_at",
)
_CLAIM = (
    "id",
    "status",
    "claim_amount",
    "paid_amount",
    "paid_at",
    "decision_reason",
    "created_at",
    "decided_at",
    "request",
)
_REFUND = (
    "id",
    "kind",
    "reason",
    "status",
    "decided_by",
    "decision_reason",
    "created_at",
    "decided_at",
)

CLAIM_STATUSES = ("sent", "open", "processing", "paid", "refused")
REFUND_STATUSES = ("pending", "accepted", "refused")
REFUND_KINDS = ("cancel", "surrender")


def application_view(app: Application) -> dict[str, Any]:
    """An application as operators see it (money as strings, times ISO 8601 in Beijing time)."""
    return view(app, _APPLICATION)


def personal_view(app: Application, box: SecretBox, *, reveal: bool = False) -> dict[str, Any]:
    """The applicant's identity numbers (ELY101 ``legalIdNo``, ``contractCerNo``), masked unless ``reveal``."""
    shown = personal.shown(box, app.request or {}, "applications", app.id, reveal=reveal)
    return {field: shown.get(field) for field in personal.APPLICATION_FIELDS}


def _owner(app: Application) -> dict[str, Any]:
    """Which application and guarantee a claim or refund request belongs to."""
    return {"application": app.id, "application_id": app.application_id, "guarantee_id": app.guarantee_id}


def claim_view(
    claim: Claim, app: Application, box: SecretBox | None = None, *, reveal: bool = False
) -> dict[str, Any]:
    """A claim as operators see it, with the application and guarantee it is on: the claimant's identity
    number masked (hidden entirely without ``box``), or in clear with ``reveal``."""
    shown = {**_owner(app), **view(claim, _CLAIM)}
    shown["request"] = personal.shown(box, claim.request or {}, "claims", claim.id, reveal=reveal)
    return shown


def refund_view(request: RefundRequest, app: Application) -> dict[str, Any]:
    """An ELY109 cancellation or surrender sent to an operator, with its application and guarantee."""
    return {**_owner(app), **view(request, _REFUND)}


def event_view(event: ApplicationEvent) -> dict[str, Any]:
    """One audit-trail entry: what happened, the stages it moved between, who did it and when."""
    return view(event, ("event", "from_stage", "to_stage", "actor", "detail", "at"))


@dataclass(frozen=True)
class Filters:
    """What a listing keeps: a stage or status, one application or guarantee, a creation period."""

    state: str | None = None  # the application's stage, or the claim's or request's status
    application: str | None = None  # our id of the application
    application_id: str | None = None
    guarantee_id: str | None = None
    kind: str | None = None  # refund requests only: cancel | surrender
    period: Period = field(default_factory=Period)

    def apply(self, query: Select[*tuple[Any, ...]], state: Any, created_at: Any) -> Select[*tuple[Any, ...]]:
        """``query`` kept to these filters; ``state`` and ``created_at`` are the listed record's columns."""
        if self.state is not None:
            query = query.where(state == self.state)
        if self.application is not None:
            query = query.where(Application.id == self.application)
        if self.application_id is not None:
            query = query.where(Application.application_id == self.application_id)
        if self.guarantee_id is not None:
            query = query.where(Application.guarantee_id == self.guarantee_id)
        return query.where(*self.period.where(created_at))


def applications(sessions: sessionmaker[Session], side: str, filters: Filters, window: Window) -> Page:
    """``side``'s applications, newest first, kept to ``filters``."""
    query: Select[*tuple[Any, ...]] = select(Application).where(Application.side == side)
    query = filters.apply(query, Application.stage, Application.created_at)
    query = query.order_by(Application.created_at.desc(), Application.id)
    with sessions() as session:
        return paged(session, query, window, lambda row: application_view(row[0]))


def claims(
    sessions: sessionmaker[Session],
    side: str,
    filters: Filters,
    window: Window,
    box: SecretBox | None = None,
    *,
    reveal: bool = False,
) -> Page:
    """Claims on ``side``'s guarantees, newest first, kept to ``filters``; identity numbers as
    :func:`claim_view` shows them."""
    query: Select[*tuple[Any, ...]] = select(Claim, Application).join(
        Application, Claim.application_pk == Application.id
    )
    query = filters.apply(query.where(Application.side == side), Claim.status, Claim.created_at)
    query = query.order_by(Claim.created_at.desc(), Claim.id)
    with sessions() as session:
        return paged(session, query, window, lambda row: claim_view(row[0], row[1], box, reveal=reveal))


def refunds(sessions: sessionmaker[Session], side: str, filters: Filters, window: Window) -> Page:
    """Cancellations and surrenders on ``side``'s applications, newest first, kept to ``filters``."""
    query: Select[*tuple[Any, ...]] = select(RefundRequest, Application).join(
        Application, RefundRequest.application_pk == Application.id
    )
    query = filters.apply(
        query.where(Application.side == side), RefundRequest.status, RefundRequest.created_at
    )
    if filters.kind is not None:
        query = query.where(RefundRequest.kind == filters.kind)
    query = query.order_by(RefundRequest.created_at.desc(), RefundRequest.id)
    with sessions() as session:
        return paged(session, query, window, lambda row: refund_view(row[0], row[1]))


def history(sessions: sessionmaker[Session], application_pk: str, window: Window) -> Page:
    """The audit trail of one application (by our id), oldest first."""
    query = (
        select(ApplicationEvent)
        .where(ApplicationEvent.application_pk == application_pk)
        .order_by(ApplicationEvent.id)
    )
    with sessions() as session:
        return paged(session, query, window, lambda row: event_view(row[0]))
