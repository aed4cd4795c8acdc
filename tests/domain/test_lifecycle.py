"""The application lifecycle: the table, its invariants over random histories, and the reasons it gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.domain.lifecycle import FINAL, TRANSITIONS, Event, IllegalTransition, Stage, allowed, next_stage


@given(st.lists(st.sampled_from(list(Event)), max_size=30))
def test_random_histories_keep_the_invariants(events: list[Event]) -> None:
    stage, seen = Stage.REVIEW, [Stage.REVIEW]
    for event in events:
        try:
            stage = next_stage(stage, event)
        except IllegalTransition as exc:
            assert event not in allowed(stage)
            assert str(exc)  # noqa: PT017 - a random history expects some refusals
            continue
        seen.append(stage)
    # A guarantee is only ever issued after its premium was paid, paid out only after a claim.
    if Stage.ISSUED in seen:
        assert seen.index(Stage.PAID) < seen.index(Stage.ISSUED)
    if Stage.PAID_OUT in seen:
        assert seen.index(Stage.CLAIMED) < seen.index(Stage.PAID_OUT)
    # Nothing moves after a final stage.
    for i, s in enumerate(seen[:-1]):
        assert s not in FINAL, f"moved on from final stage {s} to {seen[i + 1]}"


def test_final_stages_accept_nothing() -> None:
    for stage in FINAL:
        assert allowed(stage) == frozenset()


def test_every_stage_is_reachable_from_review() -> None:
    reached, frontier = {Stage.REVIEW}, [Stage.REVIEW]
    while frontier:
        stage = frontier.pop()
        for event in allowed(stage):
            nxt = TRANSITIONS[(stage, event)]
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(Stage)


@pytest.mark.parametrize(
    ("stage", "event", "why"),
    [
        (Stage.CANCELLED, Event.OPEN_CLAIM, "cannot claim on an application that is cancelled"),
        (Stage.SURRENDERED, Event.OPEN_CLAIM, "cannot claim on an application that is surrendered"),
        (Stage.ISSUED, Event.CANCEL, "surrender it instead"),
        (Stage.CLAIMED, Event.SURRENDER, "a claim is being decided"),
        (Stage.CLAIMED, Event.OPEN_CLAIM, "already being decided"),
        (Stage.APPROVED, Event.ISSUE, "cannot issue an application that is approved and waiting for payment"),
        (Stage.REJECTED, Event.PAY, "cannot record a payment for an application that is rejected"),
        (Stage.REVIEW, Event.SURRENDER, "cannot surrender an application that is still under review"),
    ],
)
def test_illegal_moves_say_why(stage: Stage, event: Event, why: str) -> None:
    with pytest.raises(IllegalTransition, match=why):
        next_stage(stage, event)


def test_the_happy_paths() -> None:
    path = [Event.APPROVE, Event.PAY, Event.ISSUE, Event.OPEN_CLAIM, Event.PAY_CLAIM]
    stage = Stage.REVIEW
    for event in path:
        stage = next_stage(stage, event)
    assert stage is Stage.PAID_OUT
    stage = next_stage(
        next_stage(next_stage(next_stage(Stage.REVIEW, Event.APPROVE), Event.PAY), Event.ISSUE),
        Event.INVALIDATE,
    )
    assert stage is Stage.DISCHARGED
    assert next_stage(Stage.CLAIMED, Event.REFUSE_CLAIM) is Stage.ISSUED
