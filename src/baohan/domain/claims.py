"""Claims (索赔) on a guarantee: what may be claimed, on which guarantee, and what may be paid out."""

from __future__ import annotations

from decimal import Decimal

from baohan.domain.lifecycle import Stage


class ClaimRefused(ValueError):
    """A claim or claim payment the rules refuse; the message says why (the caller names the field)."""


def check_claim_amount(claimed: Decimal, guaranteed: Decimal) -> None:
    """A claim may ask for at most the guaranteed amount; ClaimRefused otherwise."""
    if claimed > guaranteed:
        raise ClaimRefused(f"{claimed:.2f} exceeds the guaranteed amount {guaranteed:.2f}")


def check_claim_payment(paid: Decimal, guaranteed: Decimal) -> None:
    """A claim is paid a positive amount within the guaranteed amount; ClaimRefused otherwise."""
    if paid <= 0 or paid > guaranteed:
        raise ClaimRefused(f"payment {paid:.2f} must be positive and within {guaranteed:.2f}")


def check_live(application_id: str, stage: Stage, guarantee_id: str | None) -> None:
    """A claim is raised only on an issued guarantee not already under a claim; ClaimRefused otherwise."""
    if guarantee_id is None or stage is not Stage.ISSUED:
        raise ClaimRefused(f"guarantee of {application_id} is not live (it is {stage})")
