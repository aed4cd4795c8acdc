"""What the procurement admin API answers, typed so its OpenAPI shows real schemas: applications, claims,
refund requests, the audit trail and the platform's institutions (snake_case names, money as strings,
times ISO 8601 in Beijing time)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from baohan.domain.lifecycle import Stage
from baohan.web.admin import Time

Money = Annotated[str, Field(description="yuan, two decimals", examples=["625.00"])]
ClaimStatus = Literal["sent", "open", "processing", "paid", "refused"]
RefundStatus = Literal["pending", "accepted", "refused"]
RefundKind = Literal["cancel", "surrender"]


class ApplicationOut(BaseModel):
    """A guarantee application and, once issued, its guarantee."""

    id: str = Field(description="our id of the application")
    application_id: str = Field(description="the platform's applicationId")
    stage: Stage
    counterparty_id: str
    supplier_name: str
    supplier_code: str
    purchaser_name: str
    purchaser_code: str
    project_code: str
    project_name: str
    bid_code: str
    bid_name: str
    amount: Money
    term_months: int
    premium: Money | None
    rate: str | None = Field(description="the premium rate, e.g. 0.005000")
    decision_reasons: list[str]
    extends_id: str | None = Field(description="our id of the application this one extends")
    guarantee_id: str | None = Field(description="the guaranteeId, once issued")
    valid_from: Time | None
    valid_to: Time | None
    issued_at: Time | None
    paid_amount: Money | None
    paid_at: Time | None
    pay_type: str | None
    fail_reason: str | None
    file_name: str | None
    verification: dict[str, Any] | None
    created_at: Time
    updated_at: Time


class _Owned(BaseModel):
    """Which application and guarantee a claim or refund request is on."""

    application: str = Field(description="our id of the application")
    application_id: str = Field(description="the platform's applicationId")
    guarantee_id: str | None = Field(description="the guaranteeId")


class ClaimOut(_Owned):
    """A claim (索赔) on a guarantee and its outcome."""

    id: str
    status: ClaimStatus
    claim_amount: Money
    paid_amount: Money | None
    paid_at: Time | None
    decision_reason: str | None
    created_at: Time
    decided_at: Time | None
    request: dict[str, Any] = Field(description="the ELY105 claim as on the wire")


class RefundOut(_Owned):
    """An ELY109 cancellation (撤单) or surrender (退保) and the operator's decision."""

    id: str
    kind: RefundKind
    reason: str | None
    status: RefundStatus
    decided_by: str | None
    decision_reason: str | None
    created_at: Time
    decided_at: Time | None


class EventOut(BaseModel):
    """One audit-trail entry: what happened, between which stages, who did it, when."""

    event: str
    from_stage: str | None
    to_stage: str
    actor: str = Field(description="the operator, or platform / institution / rules")
    detail: dict[str, Any]
    at: Time


class InstitutionOut(BaseModel):
    """An institution the platform sends applications to."""

    id: str
    name: str
    appid: str
    endpoint_url: str | None


class PausedOut(BaseModel):
    """Whether the protocol endpoints answer 301 (paused)."""

    paused: bool
