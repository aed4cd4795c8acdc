"""ELY109 cancellations and surrenders: the lifecycle decides what may happen, the settings who decides."""

from __future__ import annotations

import pytest

from baohan.domain.lifecycle import IllegalTransition, Stage, allowed
from baohan.domain.refunds import EVENTS, DecisionRefused, RefundKind, Route, check_decision, route_refund

CASES = [(stage, kind) for stage in Stage for kind in RefundKind]


@pytest.mark.parametrize(("stage", "kind"), CASES)
@pytest.mark.parametrize("by_operator", [False, True])
def test_what_the_lifecycle_forbids_is_refused_whoever_decides(
    stage: Stage, kind: RefundKind, by_operator: bool
) -> None:
    routed = route_refund(stage, kind, by_operator=by_operator)
    assert routed.event is EVENTS[kind]
    if EVENTS[kind] in allowed(stage):
        assert routed.route is (Route.ASK_OPERATOR if by_operator else Route.APPLY)
        assert routed.why == ""
    else:
        assert (routed.route, routed.why) == (Route.REFUSE, str(IllegalTransition(stage, EVENTS[kind])))


def test_an_order_is_cancelled_before_issue_and_a_guarantee_surrendered_after() -> None:
    assert route_refund(Stage.APPROVED, RefundKind.CANCEL, by_operator=False).route is Route.APPLY
    assert route_refund(Stage.ISSUED, RefundKind.SURRENDER, by_operator=False).route is Route.APPLY
    refused = route_refund(Stage.ISSUED, RefundKind.CANCEL, by_operator=True)
    assert refused.route is Route.REFUSE
    assert refused.why == "an issued guarantee cannot be cancelled as an order; surrender it instead"
    under_claim = route_refund(Stage.CLAIMED, RefundKind.SURRENDER, by_operator=True)
    assert under_claim.why == "a claim is being decided; it cannot be surrendered until the claim ends"


def test_kinds_are_stored_by_their_names() -> None:
    assert RefundKind("cancel") is RefundKind.CANCEL and RefundKind("surrender") is RefundKind.SURRENDER


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_a_refusal_needs_a_reason(reason: str) -> None:
    with pytest.raises(DecisionRefused, match=r"^a refusal needs a reason$"):
        check_decision(accept=False, reason=reason)
    check_decision(accept=True, reason=reason)


def test_a_refusal_with_a_reason_is_accepted() -> None:
    check_decision(accept=False, reason="the project is still running")
