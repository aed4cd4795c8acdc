"""The tender lifecycle: its documented table, random histories, the clock rules and the reasons it gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from baohan.domain.tender import (
    FINAL,
    ISSUER,
    ISSUER_MACHINE,
    LIVE,
    PLATFORM,
    PLATFORM_MACHINE,
    Back,
    Event,
    Stage,
    Tender,
    TenderRefused,
    claim_due,
    step,
)

BEIJING = timezone(timedelta(hours=8))
OPENING = datetime(2026, 12, 1, 9, 30, tzinfo=BEIJING)
BEFORE = OPENING - timedelta(hours=1)
AFTER = OPENING + timedelta(minutes=1)

# The table as the module's docstring and the plan describe it, written out by hand: the machine must
# allow exactly these moves.
R = Back.RESUME
DOCUMENTED: dict[tuple[Stage, Event], Stage | Back] = {
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
    (Stage.PAID, Event.REQUEST_QUIT): Stage.QUIT_REQUESTED,
    (Stage.SEALED_UPLOADED, Event.REQUEST_QUIT): Stage.QUIT_REQUESTED,
    (Stage.SEALED_COMPLETED, Event.REQUEST_QUIT): Stage.QUIT_REQUESTED,
    (Stage.QUIT_REQUESTED, Event.ACCEPT_QUIT): Stage.QUIT,
    (Stage.QUIT_REQUESTED, Event.REFUSE_QUIT): R,
    (Stage.SEALED_COMPLETED, Event.CANCEL): Stage.CANCELLED,
    (Stage.RESTORING, Event.CANCEL): Stage.CANCELLED,
    (Stage.RESTORED, Event.CANCEL): Stage.CANCELLED,
    (Stage.INVOICE_REQUESTED, Event.CANCEL): Stage.CANCELLED,
    (Stage.INVOICED, Event.CANCEL): Stage.CANCELLED,
    (Stage.SEALED_COMPLETED, Event.OPEN_CLAIM): Stage.CLAIMED,
    (Stage.RESTORING, Event.OPEN_CLAIM): Stage.CLAIMED,
    (Stage.RESTORED, Event.OPEN_CLAIM): Stage.CLAIMED,
    (Stage.INVOICE_REQUESTED, Event.OPEN_CLAIM): Stage.CLAIMED,
    (Stage.INVOICED, Event.OPEN_CLAIM): Stage.CLAIMED,
    (Stage.CLAIMED, Event.PAY_CLAIM): Stage.CLAIM_PAID,
    (Stage.CLAIMED, Event.STOP_CLAIM): R,
    (Stage.APPLIED, Event.GIVE_UP): Stage.GIVEN_UP,
    (Stage.OPENED, Event.GIVE_UP): Stage.GIVEN_UP,
    (Stage.AGREED, Event.GIVE_UP): Stage.GIVEN_UP,
}


def move(tender: Tender, event: Event, now: datetime = BEFORE, **kw: object) -> Tender:
    extra = dict(kw)
    if event is Event.RESTORE:
        extra.setdefault("kaibiaotime", OPENING)
    if event is Event.STOP_CLAIM:
        extra.setdefault("reason", "the tenderer withdrew the claim")
    return step(tender, event, now=now, **extra)  # type: ignore[arg-type]


def walk(events: list[Event], now: datetime = BEFORE) -> Tender:
    tender = Tender()
    for event in events:
        tender = move(tender, event, now)
    return tender


HAPPY = [Event.OPEN, Event.AGREE, Event.APPROVE, Event.PAY, Event.UPLOAD_SEALED, Event.COMPLETE_SEALED]


def test_the_machine_allows_exactly_the_documented_table() -> None:
    assert ISSUER == DOCUMENTED
    for stage in Stage:
        for event in Event:
            if (stage, event) in DOCUMENTED:
                assert ISSUER_MACHINE.target(stage, event) == DOCUMENTED[(stage, event)]
            else:
                with pytest.raises(TenderRefused):
                    ISSUER_MACHINE.target(stage, event)


def test_the_platform_table_folds_away_what_it_cannot_see() -> None:
    seen = {stage for stage, _ in PLATFORM} | {t for t in PLATFORM.values() if isinstance(t, Stage)}
    assert seen.isdisjoint({Stage.OPENED, Stage.AGREED, Stage.PAID})
    assert {event for _, event in PLATFORM}.isdisjoint({Event.OPEN, Event.AGREE, Event.PAY})
    assert PLATFORM[(Stage.APPLIED, Event.APPROVE)] is Stage.APPROVED
    assert PLATFORM[(Stage.APPROVED, Event.UPLOAD_SEALED)] is Stage.SEALED_UPLOADED
    assert PLATFORM_MACHINE.allowed(Stage.APPLIED) == {Event.APPROVE, Event.REJECT, Event.GIVE_UP}
    # Only a not yet confirmed application is given up on the platform.
    with pytest.raises(TenderRefused, match="give-up refused"):
        step(Tender(Stage.APPROVED), Event.GIVE_UP, now=BEFORE, machine=PLATFORM_MACHINE)


def test_terminal_states_refuse_every_event() -> None:
    assert ISSUER_MACHINE.final(set(Stage)) == FINAL
    for stage in FINAL:
        for event in Event:
            with pytest.raises(TenderRefused, match="refused: the application is"):
                step(Tender(stage), event, now=AFTER, kaibiaotime=OPENING, reason="x")


def test_every_stage_is_reachable_from_applied() -> None:
    reached, frontier = {Stage.APPLIED}, [Stage.APPLIED]
    while frontier:
        stage = frontier.pop()
        for event in ISSUER_MACHINE.allowed(stage):
            target = ISSUER[(stage, event)]
            if isinstance(target, Stage) and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(Stage)


def test_the_whole_sealed_flow() -> None:
    tender = walk(HAPPY)
    assert tender.stage is Stage.SEALED_COMPLETED
    tender = move(tender, Event.RESTORE, AFTER)
    assert (tender.stage, tender.kaibiaotime) == (Stage.RESTORING, OPENING)
    tender = walk_from(tender, [Event.COMPLETE_PLAIN, Event.REQUEST_INVOICE, Event.ISSUE_INVOICE], AFTER)
    assert tender.stage is Stage.INVOICED
    tender = move(tender, Event.OPEN_CLAIM, AFTER)
    assert (tender.stage, tender.resume) == (Stage.CLAIMED, Stage.INVOICED)
    assert move(tender, Event.STOP_CLAIM, AFTER) == Tender(Stage.INVOICED, OPENING)
    assert move(tender, Event.PAY_CLAIM, AFTER).stage is Stage.CLAIM_PAID


def walk_from(tender: Tender, events: list[Event], now: datetime) -> Tender:
    for event in events:
        tender = move(tender, event, now)
    return tender


def test_restore_is_refused_before_the_bid_opens() -> None:
    sealed = walk(HAPPY)
    with pytest.raises(TenderRefused, match=r"restore refused: the bid opens at 2026-12-01 09:30:00\+08:00"):
        move(sealed, Event.RESTORE, BEFORE)
    with pytest.raises(TenderRefused, match="kaibiaotime, the bid's opening time, is required"):
        step(sealed, Event.RESTORE, now=AFTER)
    # The same instant in another zone is the same instant.
    assert move(sealed, Event.RESTORE, OPENING.astimezone(UTC)).stage is Stage.RESTORING


def test_quit_only_before_the_bid_opens() -> None:
    paid = walk(HAPPY[:4])
    requested = move(paid, Event.REQUEST_QUIT, BEFORE)
    assert (requested.stage, requested.resume) == (Stage.QUIT_REQUESTED, Stage.PAID)
    assert move(requested, Event.ACCEPT_QUIT, BEFORE).stage is Stage.QUIT
    assert move(requested, Event.REFUSE_QUIT, BEFORE) == paid
    # The platform knows the opening time from the bid section: past it a quit is refused.
    known = Tender(Stage.SEALED_COMPLETED, kaibiaotime=OPENING)
    with pytest.raises(TenderRefused, match=r"quit refused: the bid opened at 2026-12-01 09:30:00\+08:00"):
        move(known, Event.REQUEST_QUIT, AFTER)
    assert move(known, Event.REQUEST_QUIT, BEFORE).stage is Stage.QUIT_REQUESTED
    # A quit asked in time but decided after the opening cannot be accepted any more; refusing it can.
    waiting = move(known, Event.REQUEST_QUIT, BEFORE)
    with pytest.raises(TenderRefused, match="quit acceptance refused: the bid opened"):
        move(waiting, Event.ACCEPT_QUIT, AFTER)
    assert move(waiting, Event.REFUSE_QUIT, AFTER).stage is Stage.SEALED_COMPLETED
    # Once restored the bid has opened, whatever the clock says.
    restored = walk_from(walk(HAPPY), [Event.RESTORE, Event.COMPLETE_PLAIN], AFTER)
    with pytest.raises(TenderRefused, match=r"quit refused: the bid opened at 2026-12-01 09:30:00\+08:00"):
        move(restored, Event.REQUEST_QUIT, BEFORE)
    # A final stage gives its own reason, whatever the clock.
    with pytest.raises(TenderRefused, match="quit refused: the application is rejected"):
        move(Tender(Stage.REJECTED, kaibiaotime=OPENING), Event.REQUEST_QUIT, AFTER)


@pytest.mark.parametrize(
    ("prefix", "event", "why"),
    [
        (HAPPY[:4], Event.CANCEL, "cancel refused: only an issued guarantee can be cancelled"),
        (HAPPY[:3], Event.OPEN_CLAIM, "claim refused: only an issued guarantee can be claimed on"),
        (HAPPY[:3], Event.GIVE_UP, "give-up refused: only an application not yet approved"),
        (HAPPY, Event.GIVE_UP, "this one is issued"),
        (HAPPY[:2], Event.REQUEST_QUIT, "quit refused: only a paid guarantee can be quit"),
        (HAPPY[:4], Event.RESTORE, "restore refused: only a completed sealed guarantee"),
        ([], Event.APPROVE, "approval refused: the application is still sealed for the bidder"),
        ([*HAPPY, Event.OPEN_CLAIM], Event.OPEN_CLAIM, "claim refused: .* under a claim"),
    ],
)
def test_refusals_say_why(prefix: list[Event], event: Event, why: str) -> None:
    with pytest.raises(TenderRefused, match=why):
        move(walk(prefix), event, BEFORE)


def test_a_claim_is_stopped_only_with_a_reason() -> None:
    claimed = move(walk(HAPPY), Event.OPEN_CLAIM)
    for reason in (None, "", "   "):
        with pytest.raises(TenderRefused, match="claim stop refused: the operator must state a reason"):
            step(claimed, Event.STOP_CLAIM, now=BEFORE, reason=reason)


def test_times_must_carry_a_zone() -> None:
    with pytest.raises(ValueError, match="now must carry a time zone"):
        step(Tender(), Event.OPEN, now=datetime(2026, 12, 1, 9, 0))
    with pytest.raises(ValueError, match="kaibiaotime must carry a time zone"):
        step(walk(HAPPY), Event.RESTORE, now=AFTER, kaibiaotime=datetime(2026, 12, 1))


def test_a_claim_falls_due_after_the_configured_wait() -> None:
    wait = timedelta(hours=24)
    assert not claim_due(OPENING, wait, OPENING + wait - timedelta(seconds=1))
    assert claim_due(OPENING, wait, OPENING + wait)


CLOCKS = st.sampled_from([BEFORE, OPENING, AFTER])


@given(st.lists(st.tuples(st.sampled_from(list(Event)), CLOCKS), max_size=40))
@settings(max_examples=300)
def test_random_histories_keep_the_invariants(history: list[tuple[Event, datetime]]) -> None:
    for machine, table in ((ISSUER_MACHINE, ISSUER), (PLATFORM_MACHINE, PLATFORM)):
        tender, seen = Tender(), [Stage.APPLIED]
        for event, now in history:
            try:
                tender = step(tender, event, now=now, kaibiaotime=OPENING, reason="stated", machine=machine)
            except TenderRefused as exc:
                assert str(exc)  # noqa: PT017 - random histories expect refusals
                continue
            assert (seen[-1], event) in table
            seen.append(tender.stage)
            assert (tender.resume is not None) == (tender.stage in (Stage.QUIT_REQUESTED, Stage.CLAIMED))
            if event is Event.RESTORE:
                assert now >= OPENING
            if event in (Event.REQUEST_QUIT, Event.ACCEPT_QUIT):
                assert now < OPENING
        for i, stage in enumerate(seen[:-1]):
            assert stage not in FINAL, f"moved on from final stage {stage} to {seen[i + 1]}"
        if Stage.SEALED_COMPLETED in seen and machine is ISSUER_MACHINE:
            assert seen.index(Stage.PAID) < seen.index(Stage.SEALED_COMPLETED)
        if Stage.CLAIM_PAID in seen:
            assert seen.index(Stage.CLAIMED) < seen.index(Stage.CLAIM_PAID)
            assert any(s in LIVE for s in seen[: seen.index(Stage.CLAIMED)])


class TenderWalk(RuleBasedStateMachine):
    """A stateful walk: every stage it stands in is a real stage with a consistent ``resume``."""

    def __init__(self) -> None:
        super().__init__()
        self.tender = Tender()
        self.now = BEFORE

    @rule(event=st.sampled_from(list(Event)), later=st.booleans())
    def happen(self, event: Event, later: bool) -> None:
        if later:
            self.now = AFTER  # time only moves forward
        before = self.tender
        try:
            self.tender = step(before, event, now=self.now, kaibiaotime=OPENING, reason="stated")
        except TenderRefused:
            assert self.tender == before
            return
        assert before.stage not in FINAL

    @invariant()
    def consistent(self) -> None:
        assert isinstance(self.tender.stage, Stage)
        if self.tender.stage in (Stage.QUIT_REQUESTED, Stage.CLAIMED):
            assert self.tender.resume is not None
            assert self.tender.resume not in FINAL
        else:
            assert self.tender.resume is None
        if self.tender.stage in FINAL:
            assert ISSUER_MACHINE.allowed(self.tender.stage) == frozenset()


TestTenderWalk = TenderWalk.TestCase
