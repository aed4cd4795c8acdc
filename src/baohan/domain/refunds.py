"""Cancellations (撤单) and surrenders (退保) asked for by ELY109: which the lifecycle allows, who decides."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from baohan.domain.lifecycle import Event, IllegalTransition, Stage, next_stage


class RefundKind(StrEnum):
    """What is asked: cancel an order not yet issued, or surrender (give back) a live guarantee."""

    CANCEL = "cancel"
    SURRENDER = "surrender"


class Route(StrEnum):
    """What happens to a request."""

    REFUSE = "refuse"  # the lifecycle forbids it: refused at once, whoever would otherwise decide
    APPLY = "apply"  # done at once
    ASK_OPERATOR = "ask_operator"  # waits for an operator's decision


EVENTS = {RefundKind.CANCEL: Event.CANCEL, RefundKind.SURRENDER: Event.SURRENDER}


@dataclass(frozen=True, slots=True)
class RefundRoute:
    """Where a request goes, the lifecycle event it asks for, and why it is refused (for REFUSE)."""

    route: Route
    event: Event
    why: str = ""


def route_refund(stage: Stage, kind: RefundKind, *, by_operator: bool) -> RefundRoute:
    """Refused when the lifecycle forbids the move; otherwise done at once or, when ``by_operator``, queued."""
    event = EVENTS[kind]
    try:
        next_stage(stage, event)
    except IllegalTransition as exc:
        return RefundRoute(Route.REFUSE, event, str(exc))
    return RefundRoute(Route.ASK_OPERATOR if by_operator else Route.APPLY, event)


class DecisionRefused(ValueError):
    """An operator's decision the rules refuse; the message says why."""


def check_decision(*, accept: bool, reason: str) -> None:
    """An operator refusing a request must say why (the reason goes back to the supplier)."""
    if not accept and not reason.strip():
        raise DecisionRefused("a refusal needs a reason")
