"""What operators see of applications, claims, refund requests and the audit trail (admin API and CLI).

Personal identity numbers are masked (``110101********1234``) unless the caller reveals them, which the
caller records in the audit trail (:meth:`~baohan.services.procurement.role.RoleService.record_reveal`).
"""

from __future__ import annotations

from typing import Any

from baohan.adapters import personal
from baohan.adapters.db.tables import Application, ApplicationEvent, Claim, RefundRequest
from baohan.adapters.keystore import SecretBox
from baohan.services.views import view

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
    "application_pk",
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
    "application_pk",
    "kind",
    "reason",
    "status",
    "decided_by",
    "decision_reason",
    "created_at",
    "decided_at",
)


def application_view(app: Application) -> dict[str, Any]:
    """An application as operators see it (money as strings, times ISO 8601 with zone)."""
    return view(app, _APPLICATION)


def claim_view(claim: Claim, box: SecretBox | None = None, *, reveal: bool = False) -> dict[str, Any]:
    """A claim as operators see it: the claimant's identity number masked (hidden entirely without
    ``box``), or in clear with ``reveal``."""
    shown = view(claim, _CLAIM)
    shown["request"] = personal.shown(box, claim.request or {}, "claims", claim.id, reveal=reveal)
    return shown


def personal_view(app: Application, box: SecretBox, *, reveal: bool = False) -> dict[str, Any]:
    """The applicant's identity numbers (ELY101 ``legalIdNo``, ``contractCerNo``), masked unless ``reveal``."""
    shown = personal.shown(box, app.request or {}, "applications", app.id, reveal=reveal)
    return {field: shown.get(field) for field in personal.APPLICATION_FIELDS}


def refund_view(request: RefundRequest) -> dict[str, Any]:
    """An ELY109 cancellation or surrender sent to an operator, as operators see it."""
    return view(request, _REFUND)


def event_view(event: ApplicationEvent) -> dict[str, Any]:
    """One audit-trail entry."""
    return {
        "event": event.event,
        "from": event.from_stage,
        "to": event.to_stage,
        "actor": event.actor,
        "detail": event.detail,
        "at": event.at.isoformat(),
    }
