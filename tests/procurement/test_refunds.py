"""ELY109 decided by an operator (one waiting request per application, even when two race for it) or by
rule (two racing cancellations cancel once, and neither is answered 302)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import Application, ApplicationEvent, RefundRequest
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage
from baohan.domain.ids import new_id
from baohan.protocols.procurement.codes import Code
from baohan.protocols.procurement.router import Answer
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import DEFAULT_RULES, RoleRuntime, open_runtime
from tests.procurement.harness import application_fields, inbound, register_platform


@pytest.fixture
def runtime(db_url: str) -> Iterator[RoleRuntime]:
    """An issuer whose operator decides ELY109, one platform, and application R-1 approved."""
    rules = dataclasses.replace(DEFAULT_RULES, refunds_by_operator=True)
    runtime = open_runtime("issuer", db_url, SecretBox("refund test passphrase"), rules=rules)
    register_platform(runtime.registry)
    assert runtime.service.handle(inbound("ELY101", application_fields("R-1"), "1" * 32)).code is Code.OK
    assert runtime.service.application("R-1").stage == "approved"
    yield runtime
    runtime.stop()


CANCEL = {"applicationId": "R-1", "applicationType": "02", "refundReason": "不再需要"}


def events(runtime: RoleRuntime) -> list[str]:
    return [e.event for e in runtime.service.history("R-1")]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time: no race
def test_two_requests_racing_leave_one_waiting(runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    service = runtime.service
    assert isinstance(service, IssuerService)
    original = IssuerService._cancel_or_surrender
    twin_answers: list[Answer] = []

    def racing(self: IssuerService, session: Session, peer_id: str, msg: Any) -> Answer:
        answer = original(self, session, peer_id, msg)
        if not twin_answers:
            twin_answers.append(Answer())  # only the first call lets a twin in
            # The twin, under its own msgcode, commits its request while ours is still open.
            with ThreadPoolExecutor(max_workers=1) as pool:
                twin_answers[0] = pool.submit(service.handle, inbound("ELY109", CANCEL, "b" * 32)).result(30)
        return answer

    monkeypatch.setattr(IssuerService, "_cancel_or_surrender", racing)
    first = service.handle(inbound("ELY109", CANCEL, "a" * 32))
    assert first.code is Code.OK and twin_answers[0].code is Code.OK
    waiting = service.refund_requests("pending")
    assert len(waiting) == 1 and waiting[0].kind == "cancel"
    # The loser ran again, found the winner's request, and joined it.
    assert events(runtime).count("cancel_requested") == 1
    assert events(runtime).count("cancel_repeated") == 1


def test_the_database_keeps_one_waiting_request_per_application(runtime: RoleRuntime) -> None:
    service = runtime.service
    assert service.handle(inbound("ELY109", CANCEL, "c" * 32)).code is Code.OK
    [waiting] = service.refund_requests("pending")
    sessions = runtime.sessions

    def another(status: str) -> None:
        with transaction(sessions) as session:
            session.add(
                RefundRequest(
                    id=new_id(), application_pk=waiting.application_pk, kind="cancel", status=status
                )
            )

    with pytest.raises(IntegrityError):
        another("pending")
    another("refused")  # decided ones are history: any number of them
    with sessions() as session:
        assert len(session.scalars(select(RefundRequest)).all()) == 2
        assert session.get(Application, waiting.application_pk) is not None
        logged = session.scalars(select(ApplicationEvent.event)).all()
    assert logged.count("cancel_requested") == 1


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time: no race
def test_two_operators_deciding_at_once_make_one_decision(runtime: RoleRuntime) -> None:
    service = runtime.service
    assert isinstance(service, IssuerService)
    assert service.handle(inbound("ELY109", CANCEL, "d" * 32)).code is Code.OK
    [waiting] = service.refund_requests("pending")
    clock = service._clock

    def slow_clock() -> datetime:
        time.sleep(0.3)  # both operators have read the request before either commits, unless it is locked
        return clock()

    service._clock = slow_clock  # type: ignore[method-assign]
    start = threading.Barrier(2)

    def decide(accept: bool) -> str:
        start.wait()
        try:
            return service.decide_refund(
                waiting.id, accept=accept, reason="" if accept else "已开票", actor="op"
            ).status
        except OperatorError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(decide, (True, False)))
    assert sorted(outcomes, key=len)[0] in ("accepted", "refused")
    assert "already decided" in sorted(outcomes, key=len)[1]
    with runtime.sessions() as session:
        sent = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "ELY102")).all()
    assert sorted(p["applicationStatus"] for p in sent) in (["01", "06"], ["01", "07"])


@pytest.fixture
def rule_runtime(db_url: str) -> Iterator[RoleRuntime]:
    """An issuer whose rules decide ELY109 at once, one platform, and application R-1 approved."""
    runtime = open_runtime("issuer", db_url, SecretBox("refund test passphrase"), rules=DEFAULT_RULES)
    register_platform(runtime.registry)
    assert runtime.service.handle(inbound("ELY101", application_fields("R-1"), "1" * 32)).code is Code.OK
    yield runtime
    runtime.stop()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time: no race
def test_two_cancellations_racing_by_rule_cancel_once(
    rule_runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = rule_runtime.service
    assert isinstance(service, IssuerService)
    original = IssuerService._by_application_id
    twin_answers: list[Answer] = []

    def racing(self: IssuerService, session: Session, peer_id: str, application_id: str) -> Application:
        app = original(self, session, peer_id, application_id)
        if not twin_answers:
            twin_answers.append(Answer())  # only the first read lets a twin in
            # The twin, under its own msgcode, cancels and commits after ours has read the application.
            with ThreadPoolExecutor(max_workers=1) as pool:
                twin_answers[0] = pool.submit(service.handle, inbound("ELY109", CANCEL, "b" * 32)).result(30)
        return app

    monkeypatch.setattr(IssuerService, "_by_application_id", racing)
    first = service.handle(inbound("ELY109", CANCEL, "a" * 32))
    assert (first.code, twin_answers[0].code) == (Code.OK, Code.OK)  # never 302 for losing a race
    assert service.application("R-1").stage == "cancelled"
    with rule_runtime.sessions() as session:
        statuses = [m.payload["applicationStatus"] for m in session.scalars(select(OutboxMessage))]
    # Cancelled once, and said so once; the loser ran again and, as if it had come second, was refused.
    assert sorted(s for s in statuses if s != "01") == ["06", "07"]  # (01: the approval)
    assert events(rule_runtime).count("cancel_refused") == 1
