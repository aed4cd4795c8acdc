"""Two operators acting on one application at once (approve, pay, issue): one acts, the other is told why
not, on both databases. Each action locks the application's row, as claims and refunds are decided."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from baohan.adapters.db.tables import ApplicationEvent
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.procurement.codes import Code
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import RoleRuntime, open_runtime
from tests.procurement.harness import application_fields, inbound

PAID_AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def runtime(db_url: str) -> Iterator[RoleRuntime]:
    """An issuer with a certified identity, one platform, and application RACE-1 waiting in review."""
    runtime = open_runtime("issuer", db_url, SecretBox("operator race passphrase"))
    own, ca_key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca("CN=race CA,C=CN", ca_key)
    runtime.registry.add_identity(
        "default", own, issue_certificate(ca, ca_key, "CN=race issuer,C=CN", own.public_key), ca
    )
    runtime.registry.add_counterparty(
        name="p",
        role="platform",
        appid="BANK0001",
        appkey="k",
        appsecret="secret-1",
        public_key=SM2PrivateKey.generate().public_key,
    )
    fields = application_fields("RACE-1", performanceBond="6000000.00")  # above auto-approval: review
    assert runtime.service.handle(inbound("ELY101", fields, "1" * 32)).code is Code.OK
    assert runtime.service.application("RACE-1").stage == "review"
    yield runtime
    runtime.stop()


def _twice(runtime: RoleRuntime, action: Callable[[IssuerService, str], Any], monkeypatch: Any) -> list[Any]:
    """Run ``action`` from two threads at once; each dawdles after reading the application, so without a
    lock both would read the same stage. What each returned or raised."""
    service = runtime.service
    assert isinstance(service, IssuerService)
    original = IssuerService._operator_move

    def slow(self: IssuerService, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(IssuerService, "_operator_move", slow)
    start = threading.Barrier(2)
    key = service.application("RACE-1").id

    def one() -> Any:
        start.wait()
        try:
            return action(service, key)
        except Exception as exc:  # what the operator would be told
            return exc

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [f.result(timeout=60) for f in [pool.submit(one), pool.submit(one)]]


def _count(runtime: RoleRuntime, what: Any) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(what)) or 0)


def _one_acted(outcomes: list[Any], refusal: str) -> None:
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], OperatorError) and refusal in str(errors[0]), repr(errors[0])


def test_two_operators_approving_at_once(runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes = _twice(runtime, lambda service, key: service.approve(key, "op"), monkeypatch)
    _one_acted(outcomes, "cannot approve an application that is approved")
    assert _count(runtime, OutboxMessage) == 1  # one ELY102 01, not two
    assert runtime.service.application("RACE-1").stage == "approved"


def test_two_operators_paying_at_once(runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    service = runtime.service
    assert isinstance(service, IssuerService)
    service.approve(service.application("RACE-1").id, "op")
    premium = service.application("RACE-1").premium
    assert isinstance(premium, Decimal)
    outcomes = _twice(
        runtime, lambda s, key: s.record_payment(key, premium, PAID_AT, "01", "op"), monkeypatch
    )
    _one_acted(outcomes, "cannot record a payment")
    shown = service.application("RACE-1")
    assert shown.stage == "issued" and shown.guarantee_id
    with runtime.sessions() as session:
        events = session.scalars(select(ApplicationEvent.event).order_by(ApplicationEvent.id)).all()
    assert events.count("pay") == 1 and events.count("issue") == 1


def _no_font(*_: Any) -> Any:
    raise RuntimeError("no font")


def test_two_operators_issuing_at_once(runtime: RoleRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    service = runtime.service
    assert isinstance(service, IssuerService)
    key = service.application("RACE-1").id
    service.approve(key, "op")
    with monkeypatch.context() as broken:  # the letter cannot be made: the payment leaves it issue_failed
        broken.setattr(IssuerService, "_render", _no_font)
        service.record_payment(key, service.application(key).premium, PAID_AT, "01", "op")
    assert service.application(key).stage == "issue_failed"

    def issue(s: IssuerService, k: str) -> Any:
        return s.issue(k, "op")

    # issue() moves issue_failed → issued without _operator_move: dawdle in the render instead.
    render = IssuerService._render

    def slow_render(self: IssuerService, *args: Any) -> Any:
        time.sleep(0.3)
        return render(self, *args)

    monkeypatch.setattr(IssuerService, "_render", slow_render)
    outcomes = _twice(runtime, issue, monkeypatch)
    _one_acted(outcomes, "cannot issue")
    with runtime.sessions() as session:
        events = session.scalars(select(ApplicationEvent.event)).all()
    assert events.count("issue") == 1
