"""What the tender admin API answers, typed so its OpenAPI shows real schemas (snake_case names, money
as strings, times ISO 8601 in Beijing time). A project field is only ever shown once the bid opened."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from baohan.domain.tender import Stage
from baohan.web.admin import Time

Money = Annotated[str, Field(description="yuan, two decimals", examples=["80000.00"])]


class TenderApplicationOut(BaseModel):
    """One side's copy of a tender application and, once issued, its guarantee."""

    id: str = Field(description="our id of the application")
    side: str = Field(description="whose copy: issuer or platform")
    counterparty_id: str
    applyno: str
    platformcode: str
    bid_section_id: str | None = Field(description="the platform's bid section, on the platform side")
    stage: Stage
    bidder_name: str | None = Field(description="once the bidder opened the application")
    bidder_code: str | None
    bzj_amount: Money | None = Field(description="the bid bond (保证金) the guarantee stands for")
    sealed_fields: dict[str, str] | None = Field(
        description="biaoduanno, biaoduanname, zbr, zbrorgnum as ciphertext under the project key"
    )
    project_fields: dict[str, str] | None = Field(
        description="the same fields in plain text: only once the bid opened and the project key arrived"
    )
    baohanno: str | None
    inst_name: str | None
    rate: str | None
    cost: Money | None
    generated_at: Time | None
    payer_name: str | None
    payer_account: str | None
    paid_amount: Money | None
    paid_at: Time | None
    kaibiaotime: Time | None = Field(description="the bid opening (开标时间)")
    restored_at: Time | None
    quit_at: Time | None = Field(description="tuibaotime, once quit")
    created_at: Time
    updated_at: Time


class TenderEventOut(BaseModel):
    """One entry of an application's history: what happened, between which stages, who did it, when."""

    event: str
    from_stage: str | None
    to_stage: str
    actor: str
    detail: dict[str, Any]
    at: Time


class TenderPausedOut(BaseModel):
    """Whether this tender role answers every request "service paused"."""

    paused: bool
