"""Notices survive a receiver that is down and arrive once (secrets: see test_secrets_at_rest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from baohan.adapters.db.tables import ApplicationEvent
from baohan.adapters.outbox import OutboxAttempt, OutboxMessage, OutboxStatus
from tests.procurement.harness import Pair, running_pair, wait_for
from tests.procurement.test_lifecycle import submit


@pytest.fixture
def pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    with running_pair(*db_pair) as running:
        yield running


def test_notices_wait_for_a_receiver_that_is_down_and_arrive_once(pair: Pair) -> None:
    submit(pair, "DOWN-1", performanceBond="6000000.00")  # manual review: nothing is sent back yet
    wait_for(lambda: pair.issuer_app("DOWN-1").get("stage") == "review", "in review")
    pair.platform_server.stop()
    assert pair.issuer_admin.post("/admin/applications/DOWN-1/approve").status_code == 200

    def failed_attempts() -> int:
        with pair.issuer.sessions() as session:
            return len(session.scalars(select(OutboxAttempt).where(OutboxAttempt.ok.is_(False))).all())

    wait_for(lambda: failed_attempts() >= 2, "failed delivery attempts while the platform is down")
    assert pair.issuer.pending() == 1
    pair.restart_platform()
    wait_for(lambda: pair.platform_app("DOWN-1").get("stage") == "approved", "the notice after the restart")
    wait_for(lambda: pair.issuer.pending() == 0, "the outbox drained")
    with pair.platform.sessions() as session:
        approvals = session.scalars(select(ApplicationEvent).where(ApplicationEvent.event == "approve")).all()
    assert len(approvals) == 1  # delivered once, however many attempts it took
    with pair.issuer.sessions() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ELY102")).one()
        assert message.status is OutboxStatus.DELIVERED and message.attempts >= 3


def test_a_lost_answer_is_retried_and_applied_once(pair: Pair) -> None:
    """Deliver the same notice twice (as when an answer is lost): the receiver applies it once."""
    submit(pair, "TWICE-1")
    wait_for(lambda: pair.platform_app("TWICE-1").get("stage") == "approved", "approved")
    with pair.issuer.sessions() as session:
        message = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "ELY102")).one()
    pair.issuer.courier(message)  # a second delivery of the very same message
    history = [
        e["event"] for e in pair.platform_admin.get("/admin/applications/TWICE-1/history").json()["items"]
    ]
    assert history.count("approve") == 1
