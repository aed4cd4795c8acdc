"""The life of one guarantee application (保函申请), from receipt to its end, as a state machine.

Both roles keep this machine: the issuer drives it, the platform follows it from the notices. A move
the table does not allow is refused with the reason a person would give.
"""

from __future__ import annotations

from enum import StrEnum

from baohan.domain.machine import Machine


class Stage(StrEnum):
    """Where an application stands."""

    REVIEW = "review"  # received, waiting for an underwriting decision
    APPROVED = "approved"  # 01 sent; waiting for the premium
    REJECTED = "rejected"  # 02
    PAID = "paid"  # 05; ready to issue
    ISSUED = "issued"  # 03: a live guarantee
    ISSUE_FAILED = "issue_failed"  # 04
    CANCELLED = "cancelled"  # 07: the order was cancelled before issue
    SURRENDERED = "surrendered"  # 08: 退保, the supplier gave the live guarantee back
    CLAIMED = "claimed"  # a claim is being decided (ELY106 00 sent)
    PAID_OUT = "paid_out"  # the claim was paid (ELY106 01): the guarantee is spent
    DISCHARGED = "discharged"  # invalidated by the purchaser (ELY107) and cancelled (注销, ELY108)


class Event(StrEnum):
    """What can happen to an application."""

    APPROVE = "approve"
    REJECT = "reject"
    PAY = "pay"
    ISSUE = "issue"
    FAIL_ISSUE = "fail_issue"
    CANCEL = "cancel"
    SURRENDER = "surrender"
    OPEN_CLAIM = "open_claim"
    PAY_CLAIM = "pay_claim"
    REFUSE_CLAIM = "refuse_claim"
    INVALIDATE = "invalidate"


TRANSITIONS: dict[tuple[Stage, Event], Stage] = {
    (Stage.REVIEW, Event.APPROVE): Stage.APPROVED,
    (Stage.REVIEW, Event.REJECT): Stage.REJECTED,
    (Stage.REVIEW, Event.CANCEL): Stage.CANCELLED,
    (Stage.APPROVED, Event.PAY): Stage.PAID,
    (Stage.APPROVED, Event.CANCEL): Stage.CANCELLED,
    (Stage.PAID, Event.ISSUE): Stage.ISSUED,
    (Stage.PAID, Event.FAIL_ISSUE): Stage.ISSUE_FAILED,
    (Stage.PAID, Event.CANCEL): Stage.CANCELLED,
    (Stage.ISSUE_FAILED, Event.ISSUE): Stage.ISSUED,
    (Stage.ISSUE_FAILED, Event.CANCEL): Stage.CANCELLED,
    (Stage.ISSUED, Event.SURRENDER): Stage.SURRENDERED,
    (Stage.ISSUED, Event.OPEN_CLAIM): Stage.CLAIMED,
    (Stage.ISSUED, Event.INVALIDATE): Stage.DISCHARGED,
    (Stage.CLAIMED, Event.PAY_CLAIM): Stage.PAID_OUT,
    (Stage.CLAIMED, Event.REFUSE_CLAIM): Stage.ISSUED,
}

FINAL = frozenset({Stage.REJECTED, Stage.CANCELLED, Stage.SURRENDERED, Stage.PAID_OUT, Stage.DISCHARGED})
LIVE = frozenset({Stage.ISSUED, Stage.CLAIMED})

_DESCRIPTION = {
    Stage.REVIEW: "still under review",
    Stage.APPROVED: "approved and waiting for payment",
    Stage.REJECTED: "rejected",
    Stage.PAID: "paid but not yet issued",
    Stage.ISSUED: "issued",
    Stage.ISSUE_FAILED: "failed to issue",
    Stage.CANCELLED: "cancelled",
    Stage.SURRENDERED: "surrendered",
    Stage.CLAIMED: "under a claim",
    Stage.PAID_OUT: "paid out on a claim",
    Stage.DISCHARGED: "invalidated and cancelled",
}
_VERB = {
    Event.APPROVE: "approve",
    Event.REJECT: "reject",
    Event.PAY: "record a payment for",
    Event.ISSUE: "issue",
    Event.FAIL_ISSUE: "fail the issue of",
    Event.CANCEL: "cancel",
    Event.SURRENDER: "surrender",
    Event.OPEN_CLAIM: "claim on",
    Event.PAY_CLAIM: "pay a claim on",
    Event.REFUSE_CLAIM: "refuse a claim on",
    Event.INVALIDATE: "invalidate",
}
_WHY = {
    (Stage.ISSUED, Event.CANCEL): "an issued guarantee cannot be cancelled as an order; surrender it instead",
    (
        Stage.CLAIMED,
        Event.SURRENDER,
    ): "a claim is being decided; it cannot be surrendered until the claim ends",
    (Stage.CLAIMED, Event.OPEN_CLAIM): "a claim is already being decided for this guarantee",
    (
        Stage.CLAIMED,
        Event.INVALIDATE,
    ): "a claim is being decided; it cannot be invalidated until the claim ends",
}


class IllegalTransition(Exception):
    """A move the lifecycle does not allow; the message says why in plain words."""

    def __init__(self, stage: Stage, event: Event) -> None:
        self.stage, self.event = stage, event
        why = (
            _WHY.get((stage, event)) or f"cannot {_VERB[event]} an application that is {_DESCRIPTION[stage]}"
        )
        super().__init__(why)


_MACHINE: Machine[Stage, Event, Stage] = Machine(TRANSITIONS, IllegalTransition)


def next_stage(stage: Stage, event: Event) -> Stage:
    """The stage after ``event``; IllegalTransition when the lifecycle forbids it."""
    return _MACHINE.target(stage, event)


def allowed(stage: Stage) -> frozenset[Event]:
    """The events ``stage`` accepts (empty for a final stage)."""
    return _MACHINE.allowed(stage)
