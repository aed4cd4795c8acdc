"""The premium payment must be the premium underwriting set."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.payments import PaymentRefused, check_premium_paid

AMOUNTS = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999999.99"), places=2)


@given(amount=AMOUNTS, premium=AMOUNTS)
def test_only_the_premium_is_accepted(amount: Decimal, premium: Decimal) -> None:
    if amount == premium:
        check_premium_paid(amount, premium)
    else:
        with pytest.raises(
            PaymentRefused, match=f"^payment {amount:.2f} does not match the premium {premium:.2f}$"
        ):
            check_premium_paid(amount, premium)


@given(amount=AMOUNTS)
def test_any_amount_is_accepted_when_no_premium_was_set(amount: Decimal) -> None:
    check_premium_paid(amount, None)


def test_equal_amounts_in_other_scales_match() -> None:
    check_premium_paid(Decimal("625"), Decimal("625.00"))
