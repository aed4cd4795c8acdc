"""The life of one tender guarantee (spec 004), from the sealed application to its end, as a state machine.

The issuer's copy follows :data:`ISSUER`: the bidder opens the sealed application and signs the agreement
before underwriting; the sealed guarantee is uploaded and completed before the bid opens; after bid
opening the platform's key restores the plain guarantee. The platform never sees the bidder open, agree or
pay, so its copy follows :data:`PLATFORM`, the same table with those steps folded away.

A refused quit and a stopped claim go back to where the guarantee stood (``Tender.resume``). Whether the
bid has opened is decided from ``kaibiaotime`` and the clock the caller passes in, never the host's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from baohan.domain import money
from baohan.domain.machine import Machine


class Stage(StrEnum):
    """Where a tender application stands."""

    APPLIED = "applied"  # baohanapply stored, still sealed for the bidder
    OPENED = "opened"  # the bidder opened the envelope; the server checked the key against it
    AGREED = "agreed"  # the bidder signed the application agreement
    APPROVED = "approved"  # underwritten: rate, cost and baohanno fixed (baohannotice applystatus 1)
    REJECTED = "rejected"  # baohannotice applystatus 0
    PAID = "paid"  # the premium is recorded
    SEALED_UPLOADED = "sealed_uploaded"  # every slice of the sealed OFD (filetype 1) is up
    SEALED_COMPLETED = "sealed_completed"  # baohanfilecompletenotice for it accepted: the guarantee is issued
    RESTORING = "restoring"  # the bid opened and baohanrestore gave the project key; plain one under way
    RESTORED = "restored"  # the plain guarantee (filetype 2) uploaded and completed
    INVOICE_REQUESTED = "invoice_requested"  # invoiceapply waiting for the invoice
    INVOICED = "invoiced"  # invoicenotice sent
    QUIT_REQUESTED = "quit_requested"  # quitapply (退保) waiting for a decision
    QUIT = "quit"  # quitnotice applystatus 1, with tuibaotime
    CANCELLED = "cancelled"  # canclenotice (注销)
    CLAIMED = "claimed"  # claimsnotice: paid on first demand unless an operator stops it
    CLAIM_PAID = "claim_paid"  # the claim was paid: the guarantee is spent
    GIVEN_UP = "given_up"  # giveupapply accepted by us, or giveupnotice accepted by the platform


class Event(StrEnum):
    """What can happen to a tender application."""

    OPEN = "open"
    AGREE = "agree"
    APPROVE = "approve"
    REJECT = "reject"
    PAY = "pay"
    UPLOAD_SEALED = "upload_sealed"
    COMPLETE_SEALED = "complete_sealed"
    RESTORE = "restore"
    COMPLETE_PLAIN = "complete_plain"
    REQUEST_INVOICE = "request_invoice"
    ISSUE_INVOICE = "issue_invoice"
    REFUSE_INVOICE = "refuse_invoice"
    REQUEST_QUIT = "request_quit"
    ACCEPT_QUIT = "accept_quit"
    REFUSE_QUIT = "refuse_quit"
    CANCEL = "cancel"
    OPEN_CLAIM = "open_claim"
    PAY_CLAIM = "pay_claim"
    STOP_CLAIM = "stop_claim"
    GIVE_UP = "give_up"


class Back(StrEnum):
    """A target that is no stage: back to the stage kept in ``Tender.resume``."""

    RESUME = "resume"


Target = Stage | Back

# Issued: the sealed guarantee is on the platform. Only these may be cancelled or claimed on.
LIVE = frozenset(
    {Stage.SEALED_COMPLETED, Stage.RESTORING, Stage.RESTORED, Stage.INVOICE_REQUESTED, Stage.INVOICED}
)
QUITTABLE = frozenset({Stage.PAID, Stage.SEALED_UPLOADED, Stage.SEALED_COMPLETED})  # and only before opening
# Nothing issued, nothing notified: a give-up from either side may be accepted.
UNCOMMITTED = frozenset({Stage.APPLIED, Stage.OPENED, Stage.AGREED})

ISSUER: dict[tuple[Stage, Event], Target] = {
    (Stage.APPLIED, Event.OPEN): Stage.OPENED,
    (Stage.OPENED, Event.AGREE): Stage.AGREED,
    (Stage.AGREED, Event.APPROVE): Stage.APPROVED,
    (Stage.AGREED, Event.REJECT): Stage.REJECTED,
    (Stage.APPROVED, Event.PAY): Stage.PAID,
    (Stage.PAID, Event.UPLOAD_SEALED): Stage.SEALED_UPLOADED,
    (Stage.SEALED_UPLOADED, Event.COMPLETE_SEALED): Stage.SEALED_COMPLETED,
    (Stage.SEALED_COMPLETED, Event.RESTORE): Stage.RESTORING,
    (Stage.RESTORING, Event.COMPLETE_PLAIN): Stage.RESTORED,
    (Stage.RESTORED, Event.REQUEST_INVOICE): Stage.INVOICE_REQUESTED,
    (Stage.INVOICE_REQUESTED, Event.ISSUE_INVOICE): Stage.INVOICED,
    (Stage.INVOICE_REQUESTED, Event.REFUSE_INVOICE): Stage.RESTORED,
    **{(stage, Event.REQUEST_QUIT): Stage.QUIT_REQUESTED for stage in QUITTABLE},
    (Stage.QUIT_REQUESTED, Event.ACCEPT_QUIT): Stage.QUIT,
    (Stage.QUIT_REQUESTED, Event.REFUSE_QUIT): Back.RESUME,
    **{(stage, Event.CANCEL): Stage.CANCELLED for stage in LIVE},
    **{(stage, Event.OPEN_CLAIM): Stage.CLAIMED for stage in LIVE},
    (Stage.CLAIMED, Event.PAY_CLAIM): Stage.CLAIM_PAID,
    (Stage.CLAIMED, Event.STOP_CLAIM): Back.RESUME,
    **{(stage, Event.GIVE_UP): Stage.GIVEN_UP for stage in UNCOMMITTED},
}

# The platform's copy: what it cannot see (open, agree, pay) folded into the stage before it.
PLATFORM_UNSEEN = frozenset({Event.OPEN, Event.AGREE, Event.PAY})
PLATFORM_FOLD: Mapping[Stage, Stage] = {
    Stage.OPENED: Stage.APPLIED,
    Stage.AGREED: Stage.APPLIED,
    Stage.PAID: Stage.APPROVED,
}


def _fold(table: Mapping[tuple[Stage, Event], Target]) -> dict[tuple[Stage, Event], Target]:
    folded: dict[tuple[Stage, Event], Target] = {}
    for (stage, event), target in table.items():
        if event in PLATFORM_UNSEEN:
            continue
        folded[(PLATFORM_FOLD.get(stage, stage), event)] = (
            PLATFORM_FOLD.get(target, target) if isinstance(target, Stage) else target
        )
    return folded


PLATFORM = _fold(ISSUER)
FINAL = frozenset({Stage.REJECTED, Stage.QUIT, Stage.CANCELLED, Stage.CLAIM_PAID, Stage.GIVEN_UP})
RESUMING = frozenset({Stage.QUIT_REQUESTED, Stage.CLAIMED})  # the stages a Back.RESUME leaves

_DESCRIPTION = {
    Stage.APPLIED: "still sealed for the bidder",
    Stage.OPENED: "opened but not yet agreed by the bidder",
    Stage.AGREED: "agreed and waiting for underwriting",
    Stage.APPROVED: "approved and waiting for the premium",
    Stage.REJECTED: "rejected",
    Stage.PAID: "paid but its sealed guarantee is not uploaded",
    Stage.SEALED_UPLOADED: "uploaded but not yet completed",
    Stage.SEALED_COMPLETED: "issued (sealed) and waiting for the bid to open",
    Stage.RESTORING: "being restored",
    Stage.RESTORED: "restored",
    Stage.INVOICE_REQUESTED: "waiting for its invoice",
    Stage.INVOICED: "invoiced",
    Stage.QUIT_REQUESTED: "waiting for a decision on a quit",
    Stage.QUIT: "quit (退保)",
    Stage.CANCELLED: "cancelled (注销)",
    Stage.CLAIMED: "under a claim",
    Stage.CLAIM_PAID: "paid out on a claim",
    Stage.GIVEN_UP: "given up",
}
_NAME = {
    Event.OPEN: "open",
    Event.AGREE: "agreement",
    Event.APPROVE: "approval",
    Event.REJECT: "rejection",
    Event.PAY: "payment",
    Event.UPLOAD_SEALED: "sealed upload",
    Event.COMPLETE_SEALED: "sealed completion",
    Event.RESTORE: "restore",
    Event.COMPLETE_PLAIN: "plain completion",
    Event.REQUEST_INVOICE: "invoice request",
    Event.ISSUE_INVOICE: "invoice",
    Event.REFUSE_INVOICE: "invoice refusal",
    Event.REQUEST_QUIT: "quit",
    Event.ACCEPT_QUIT: "quit acceptance",
    Event.REFUSE_QUIT: "quit refusal",
    Event.CANCEL: "cancel",
    Event.OPEN_CLAIM: "claim",
    Event.PAY_CLAIM: "claim payment",
    Event.STOP_CLAIM: "claim stop",
    Event.GIVE_UP: "give-up",
}
_WHY = {
    Event.CANCEL: "only an issued guarantee can be cancelled",
    Event.OPEN_CLAIM: "only an issued guarantee can be claimed on",
    Event.GIVE_UP: "only an application not yet approved, issued or notified can be given up",
    Event.REQUEST_QUIT: "only a paid guarantee can be quit, before the bid opens",
    Event.RESTORE: "only a completed sealed guarantee can be restored",
}


class TenderRefused(ValueError):
    """A move the tender lifecycle does not allow; the message says why in plain words."""


def refusal(stage: Stage, event: Event) -> TenderRefused:
    """The refusal of ``event`` in ``stage``: what was refused, and why."""
    why = f"the application is {_DESCRIPTION[stage]}"
    if stage not in FINAL and event in _WHY:
        why = f"{_WHY[event]}, and this one is {_DESCRIPTION[stage]}"
    return TenderRefused(f"{_NAME[event]} refused: {why}")


ISSUER_MACHINE: Machine[Stage, Event, Target] = Machine(ISSUER, refusal)
PLATFORM_MACHINE: Machine[Stage, Event, Target] = Machine(PLATFORM, refusal)


@dataclass(frozen=True, slots=True)
class Tender:
    """One application's lifecycle state: its stage, the bid's opening time once known, where to go back."""

    stage: Stage = Stage.APPLIED
    kaibiaotime: datetime | None = None
    resume: Stage | None = None  # set while QUIT_REQUESTED or CLAIMED

    def bid_opened(self, now: datetime) -> bool:
        """True once the bid opened: ``kaibiaotime`` has passed, or the project key was given."""
        _aware("now", now)
        if self.stage in (Stage.RESTORING, Stage.RESTORED, Stage.INVOICE_REQUESTED, Stage.INVOICED):
            return True
        return self.kaibiaotime is not None and now >= self.kaibiaotime


def _aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must carry a time zone")


def _shown(value: datetime) -> str:
    return value.isoformat(sep=" ")


def step(
    tender: Tender,
    event: Event,
    *,
    now: datetime,
    kaibiaotime: datetime | None = None,
    reason: str | None = None,
    machine: Machine[Stage, Event, Target] = ISSUER_MACHINE,
) -> Tender:
    """``tender`` after ``event`` at ``now``; TenderRefused (saying why) when the lifecycle forbids it.

    RESTORE needs the bid's ``kaibiaotime`` (refused before it); STOP_CLAIM needs the operator's ``reason``.
    """
    _aware("now", now)
    if kaibiaotime is not None:
        _aware("kaibiaotime", kaibiaotime)
        if event is not Event.RESTORE and tender.kaibiaotime is None:
            tender = replace(tender, kaibiaotime=kaibiaotime)
    # After the bid opened, that is the reason a quit is refused (not the stage it led to).
    if (
        event in (Event.REQUEST_QUIT, Event.ACCEPT_QUIT)
        and tender.stage not in FINAL
        and tender.bid_opened(now)
    ):
        opened = tender.kaibiaotime
        when = f" at {_shown(opened)}" if opened is not None else ""
        raise TenderRefused(f"{_NAME[event]} refused: the bid opened{when}; a quit is only possible before")
    target = machine.target(tender.stage, event)
    if event is Event.RESTORE:
        if kaibiaotime is None:
            raise TenderRefused("restore refused: kaibiaotime, the bid's opening time, is required")
        if now < kaibiaotime:
            raise TenderRefused(f"restore refused: the bid opens at {_shown(kaibiaotime)}")
        tender = replace(tender, kaibiaotime=kaibiaotime)
    if event is Event.STOP_CLAIM and not (reason and reason.strip()):
        raise TenderRefused("claim stop refused: the operator must state a reason")
    if isinstance(target, Back):
        assert tender.resume is not None, f"{tender.stage} without a stage to go back to"
        return replace(tender, stage=tender.resume, resume=None)
    resume = tender.stage if target in RESUMING else None
    return replace(tender, stage=target, resume=resume)


def claim_due(opened_at: datetime, wait: timedelta, now: datetime) -> bool:
    """True once a claim opened at ``opened_at`` has waited ``wait``: paid on first demand unless stopped."""
    _aware("opened_at", opened_at)
    _aware("now", now)
    return now >= opened_at + wait


def check_money(name: str, value: Decimal) -> Decimal:
    """``value`` as an amount in cents (bzjamount, cost, premium); ValueError naming ``name`` otherwise."""
    try:
        return money.checked(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: {exc}") from None


def check_rate(name: str, value: Decimal) -> Decimal:
    """``value`` as a premium rate (0.005 for 千分之五): at least 0, below 1, at most six decimals."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name}: {value!r} is not a finite decimal")
    if not 0 <= value < 1:
        raise ValueError(f"{name}: {value} must be at least 0 and below 1 (0.005 is 千分之五)")
    if int(value.as_tuple().exponent) < -6:
        raise ValueError(f"{name}: {value} has more than 6 decimal places")
    return value
