"""Claims: at most the guaranteed amount, paid within it, only on a live guarantee."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.claims import ClaimRefused, check_claim_amount, check_claim_payment, check_live
from baohan.domain.lifecycle import Stage

AMOUNTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999999999.99"), places=2)


@given(guaranteed=AMOUNTS, claimed=AMOUNTS)
def test_a_claim_asks_for_at_most_the_guaranteed_amount(guaranteed: Decimal, claimed: Decimal) -> None:
    if claimed <= guaranteed:
        check_claim_amount(claimed, guaranteed)
    else:
        with pytest.raises(
            ClaimRefused, match=f"^{claimed:.2f} exceeds the guaranteed amount {guaranteed:.2f}$"
        ):
            check_claim_amount(claimed, guaranteed)


def test_a_claim_message_writes_two_decimals() -> None:
    with pytest.raises(ClaimRefused) as refused:
        check_claim_amount(Decimal("100001"), Decimal("100000.00"))
    assert str(refused.value) == "100001.00 exceeds the guaranteed amount 100000.00"


@given(guaranteed=AMOUNTS, paid=st.decimals(min_value=Decimal("-100"), max_value=Decimal("1e13"), places=2))
def test_a_claim_is_paid_a_positive_amount_within_the_guarantee(guaranteed: Decimal, paid: Decimal) -> None:
    if Decimal(0) < paid <= guaranteed:
        check_claim_payment(paid, guaranteed)
    else:
        with pytest.raises(
            ClaimRefused, match=f"^payment {paid:.2f} must be positive and within {guaranteed:.2f}$"
        ):
            check_claim_payment(paid, guaranteed)


@pytest.mark.parametrize("stage", list(Stage))
def test_claims_are_raised_only_on_an_issued_guarantee(stage: Stage) -> None:
    if stage is Stage.ISSUED:
        check_live("APP-1", stage, "BH1")
    else:
        with pytest.raises(ClaimRefused, match=rf"^guarantee of APP-1 is not live \(it is {stage.value}\)$"):
            check_live("APP-1", stage, "BH1")


def test_an_issued_application_without_a_guarantee_number_is_not_live() -> None:
    with pytest.raises(ClaimRefused, match=r"not live \(it is issued\)"):
        check_live("APP-1", Stage.ISSUED, None)
