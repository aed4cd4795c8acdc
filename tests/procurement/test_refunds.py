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

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import Application, ApplicationEvent, RefundRequest
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage
from baohan.domain.ids import new_id
from baohan.domain.underwriting import Rules
from baohan.protocols.procurement.codes import Code
from baohan.protocols.procurement.router import Answer
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import DEFAULT_RULES, RoleRuntime, open_runtime
from tests.procurement.harness import application_fields, inbound, register_platform


def issuer_with_r1(db_url: str, rules: Rules) -> Iterator[RoleRuntime]:
    """An issuer deciding ELY109 by ``rules``, one platform, and application R-1 approved."""
    runtime = open_runtime("issuer", db_url, SecretBox("refund test passphrase"), rules=rules)
    register_platform(runtime.registry)
    assert runtime.service.handle(inbound("ELY101", application_fields("R-1"), "1" * 32)).code is Code.OK
    assert runtime.service.application("R-1").stage == "approved"
    yield runtime
    runtime.stop()


@pytest.fixture
def runtime(db_url: str) -> Iterator[RoleRuntime]:
    """An issuer whose operator decides ELY109."""
    yield from issuer_with_r1(db_url, dataclasses.replace(DEFAULT_RULES, refunds_by_operator=True))


@pytest.fixture
def rule_runtime(db_url: str) -> Iterator[RoleRuntime]:
    """An issuer whose rules decide ELY109 at once."""
    yield from issuer_with_r1(db_url, DEFAULT_RULES)


def race_a_twin(service: IssuerService, monkeypatch: pytest.MonkeyPatch, step: str) -> tuple[Answer, Answer]:
    """Cancel R-1 twice under two msgcodes: the twin runs to its commit on another thread right after our
    request's first call of ``step``, while ours is still open. Our answer, then the twin's."""
    original = getattr(IssuerService, step)
    twin: list[Answer] = []

    def racing(self: IssuerService, *args: Any) -> Any:
        result = original(self, *args)
        if not twin:
            twin.append(Answer())  # only the first call lets a twin in
            with ThreadPoolExecutor(max_workers=1) as pool:
                twin[0] = pool.submit(service.handle, inbound("ELY109", CANCEL, "b" * 32)).result(30)
        return result

    monkeypatch.setattr(IssuerService, step, racing)
    return service.handle(inbound("ELY109", CANCEL, "a" * 32)), twin[0]


CANCEL = {"applicationId": "R-1", "applicationType": "02", "refundReason": "不再需要"}


def events(runtime: RoleRuntime) -> list[str]:
    return [e.event for e in runtime.service.history("R-1")]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time: no race
def test_two_requests_racing_leave_one_waiting(runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    service = runtime.service
    assert isinstance(service, IssuerService)
    first, twin = race_a_twin(service, monkeypatch, "_cancel_or_surrender")
    assert first.code is Code.OK and twin.code is Code.OK
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


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite has one writer at a time: no race
def test_two_cancellations_racing_by_rule_cancel_once(
    rule_runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = rule_runtime.service
    assert isinstance(service, IssuerService)
    # The twin cancels after ours has read the application, before ours writes it.
    first, twin = race_a_twin(service, monkeypatch, "_by_application_id")
    assert (first.code, twin.code) == (Code.OK, Code.OK)  # never 302 for losing a race
    assert service.application("R-1").stage == "cancelled"
    with rule_runtime.sessions() as session:
        statuses = [m.payload["applicationStatus"] for m in session.scalars(select(OutboxMessage))]
    # Cancelled once, and said so once; the loser ran again and, as if it had come second, was refused.
    assert sorted(s for s in statuses if s != "01") == ["06", "07"]  # (01: the approval)
    assert events(rule_runtime).count("cancel_refused") == 1
