"""The premium payment (保费) that lets a guarantee be issued."""

from __future__ import annotations

from decimal import Decimal


class PaymentRefused(ValueError):
    """A payment the rules refuse; the message says why."""


def check_premium_paid(amount: Decimal, premium: Decimal | None) -> None:
    """The payment must be the premium underwriting set (any amount when none was set); PaymentRefused otherwise."""
    if premium is not None and amount != premium:
        raise PaymentRefused(f"payment {amount:.2f} does not match the premium {premium:.2f}")
