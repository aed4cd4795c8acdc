"""The tender application store on SQLite and PostgreSQL: idempotent adds, lookups, moves with history, the
project key sealed at rest, and operator listings that never show a plaintext project field before restore."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderApplication, TenderEvent
from baohan.adapters.keystore import KeyStoreError
from baohan.domain.tender import Event, TenderRefused
from baohan.services.tender import views
from baohan.services.tender.store import (
    ApplicationConflict,
    Applications,
    Opened,
    Sealed,
    project_key_context,
)
from baohan.services.views import Window
from tests.tender.store_fixtures import (
    BOX,
    NOW,
    OPENED,
    OPENING,
    PLAIN,
    PROJECT_KEY,
    SEALED,
    SEALED_LINE,
    peers,
    sealed,
    walk,
)

__all__ = ["peers"]  # the fixture, used by name


def test_an_application_is_added_once_and_a_changed_one_refused(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer, platform = Applications("issuer", BOX), Applications("platform", BOX)
    one, two = peers
    with transaction(sessions) as session:
        app, created = issuer.add(session, one, sealed(), now=NOW, actor="K1")
        assert created and app.stage == "applied"
        again, created = issuer.add(session, one, sealed(), now=NOW, actor="K1")
        assert (again.id, created) == (app.id, False)
        with pytest.raises(ApplicationConflict, match="applyno A-1 was already received with other content"):
            issuer.add(session, one, sealed(applydata="b3RoZXI="), now=NOW, actor="K1")
        # Another counterparty's applyno, and the platform's copy in the same database, are other rows.
        assert issuer.add(session, two, sealed(), now=NOW, actor="K2")[1]
        assert platform.add(session, one, sealed(), now=NOW, actor="bidder")[1]
    with sessions() as session:
        assert len(session.scalars(select(TenderApplication)).all()) == 3
        assert issuer.by_applyno(session, one, "A-1").id == app.id  # type: ignore[union-attr]
        assert issuer.by_applyno(session, one, "A-2") is None


def test_moves_write_history_and_refusals_write_nothing(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    with transaction(sessions) as session:
        app, _ = issuer.add(session, peers[0], sealed(), now=NOW, actor="K1")
        issuer.record_opened(session, app, OPENED, now=NOW, actor="bidder")
        issuer.move(session, app, Event.AGREE, now=NOW, actor="bidder")
        issuer.move(session, app, Event.APPROVE, now=NOW, actor="alice", detail={"rate": Decimal("0.005")})
        app.baohanno, app.rate, app.cost = "BH-1", Decimal("0.005"), Decimal("4000.00")
        app_id = app.id
    with pytest.raises(TenderRefused, match="give-up refused"), transaction(sessions) as session:
        issuer.move(session, issuer.get(session, app_id), Event.GIVE_UP, now=NOW, actor="K1")
    with sessions() as session:
        app = issuer.get(session, app_id)
        assert app.stage == "approved"
        assert issuer.by_baohanno(session, peers[0], "BH-1").id == app_id  # type: ignore[union-attr]
        assert (app.bzj_amount, app.rate, app.cost) == (
            Decimal("800000.00"),
            Decimal("0.005"),
            Decimal("4000"),
        )
        trail = [(e.event, e.from_stage, e.to_stage, e.actor) for e in issuer.history(session, app)]
        assert trail == [
            ("apply", None, "applied", "K1"),
            ("open", "applied", "opened", "bidder"),
            ("agree", "opened", "agreed", "bidder"),
            ("approve", "agreed", "approved", "alice"),
        ]
        assert issuer.history(session, app)[-1].detail == {"rate": "0.005"}
        with pytest.raises(LookupError, match="no tender application"):
            Applications("platform", BOX).get(session, app_id)


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        (Decimal("1.234"), "bzjamount: amount 1.234 has more than 2 decimal places"),
        (Decimal(-1), "bzjamount"),
        (Decimal("NaN"), "bzjamount"),
    ],
)
def test_an_inexact_deposit_is_refused_by_name(
    sessions: sessionmaker[Session], peers: tuple[str, str], amount: Decimal, why: str
) -> None:
    issuer = Applications("issuer", BOX)
    with transaction(sessions) as session:
        app, _ = issuer.add(session, peers[0], sealed(), now=NOW, actor="K1")
        with pytest.raises(ValueError, match=why):
            issuer.record_opened(session, app, Opened("B", "C", amount, SEALED), now=NOW, actor="bidder")
        assert app.stage == "applied"


def to_sealed_completed(issuer: Applications, session: Session, app: TenderApplication) -> None:
    walk(issuer, session, app, SEALED_LINE)


def test_the_project_key_is_kept_sealed_and_only_after_the_bid_opened(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    after = OPENING + timedelta(minutes=5)
    with transaction(sessions) as session:
        app, _ = issuer.add(session, peers[0], sealed(), now=NOW, actor="K1")
        to_sealed_completed(issuer, session, app)
        with pytest.raises(ValueError, match="only once the bid opened"):
            issuer.record_project_key(session, app, PROJECT_KEY, PLAIN, now=NOW)
        issuer.move(session, app, Event.RESTORE, now=after, actor="K1", kaibiaotime=OPENING)
        issuer.record_project_key(session, app, PROJECT_KEY, PLAIN, now=after)
        app_id = app.id
    with sessions() as session:
        app = issuer.get(session, app_id)
        assert app.kaibiaotime == OPENING.astimezone(UTC)
        assert app.project_key_sealed is not None and PROJECT_KEY.hex() not in app.project_key_sealed
        assert issuer.project_key(app) == PROJECT_KEY
        with pytest.raises(KeyStoreError, match="altered"):
            BOX.open(app.project_key_sealed, context=project_key_context("another"))


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON-like value, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)
    else:
        yield str(value)


def leaked(shown: Any) -> list[str]:
    return [plain for plain in PLAIN.values() for text in strings(shown) if plain in text]


def test_operators_never_see_a_plaintext_project_field_before_restore(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    with transaction(sessions) as session:
        for n in range(5):
            app, _ = issuer.add(
                session, peers[n % 2], sealed(f"A-{n}"), now=NOW + timedelta(seconds=n), actor="K"
            )
            to_sealed_completed(issuer, session, app)
            if n == 0:
                issuer.move(session, app, Event.REQUEST_QUIT, now=NOW, actor="K", reason="withdrawn")
        # A row that holds the plain fields while its stage says the key never came is still not shown.
        app.project_fields = dict(PLAIN)
        last = app.id
    pages = [
        views.applications(sessions, Window(limit=2, offset=offset), views.Filters(side="issuer"))
        for offset in (0, 2, 4)
    ]
    assert [len(page.items) for page in pages] == [2, 2, 1] and {page.total for page in pages} == {5}
    shown: list[Any] = [page.plain() for page in pages]
    shown += [views.history(sessions, item["id"]) for page in pages for item in page.items]
    assert leaked(shown) == []
    assert any(SEALED["zbr"] in text for text in strings(shown))  # the sealed form is what they see
    assert views.applications(sessions, Window(), views.Filters("issuer", stage="quit_requested")).total == 1
    assert views.applications(sessions, Window(), views.Filters("platform")).total == 0
    with pytest.raises(ValueError, match="stage must be one of"):
        views.Filters("issuer", stage="lost")

    after = OPENING + timedelta(minutes=1)
    with transaction(sessions) as session:
        app = issuer.get(session, last)
        issuer.move(session, app, Event.RESTORE, now=after, actor="K1", kaibiaotime=OPENING)
        issuer.record_project_key(session, app, PROJECT_KEY, PLAIN, now=after)
    page = views.applications(sessions, Window(), views.Filters("issuer", stage="restoring"))
    assert [item["project_fields"] for item in page.items] == [PLAIN]


def test_history_detail_money_and_times_are_text(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    with transaction(sessions) as session:
        app, _ = issuer.add(session, peers[0], sealed(), now=NOW, actor="K1")
        issuer.move(session, app, Event.OPEN, now=NOW, actor="bidder", detail={"at": NOW, "n": 1})
    with sessions() as session:
        row = session.scalars(select(TenderEvent).where(TenderEvent.event == "open")).one()
        assert row.detail == {"at": str(NOW), "n": 1}
        assert row.at == NOW.astimezone(UTC)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (Sealed("", "TC001", "ZA==", "ZQ=="), "applyno: required"),
        (Sealed("A" * 51, "TC001", "ZA==", "ZQ=="), "applyno: at most 50 characters"),
        (Sealed("A-1", "T" * 51, "ZA==", "ZQ=="), "platformcode: at most 50"),
        (Sealed("A-1", "TC001", "", "ZQ=="), "applydata: required"),
    ],
)
def test_a_malformed_application_is_refused_by_name(
    sessions: sessionmaker[Session], peers: tuple[str, str], content: Sealed, why: str
) -> None:
    with sessions() as session, pytest.raises(ValueError, match=why):
        Applications("issuer", BOX).add(session, peers[0], content, now=NOW, actor="K1")


def test_a_side_must_be_named() -> None:
    with pytest.raises(ValueError, match="side must be one of issuer, platform"):
        Applications("bank", BOX)


def test_approval_and_payment_keep_their_figures(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    with transaction(sessions) as session:
        first, _ = issuer.add(session, peers[0], sealed("A-1"), now=NOW, actor="K1")
        second, _ = issuer.add(session, peers[0], sealed("A-2"), now=NOW, actor="K1")
        for app in (first, second):
            issuer.record_opened(session, app, OPENED, now=NOW, actor="bidder")
            issuer.move(session, app, Event.AGREE, now=NOW, actor="bidder")
        figures = {"rate": Decimal("0.005"), "cost": Decimal("4000.00"), "inst_name": "某某担保有限公司"}
        issuer.approve(session, first, baohanno="BH-1", now=NOW, actor="alice", **figures)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="baohanno: BH-1 is already the number of application A-1"):
            issuer.approve(session, second, baohanno="BH-1", now=NOW, actor="alice", **figures)  # type: ignore[arg-type]
        for change, why in (
            ({"rate": Decimal("1.5")}, "rate: 1.5 must be at least 0 and below 1"),
            ({"rate": Decimal("0.0000001")}, "rate: .* more than 6 decimal places"),
            ({"cost": Decimal("-1")}, "cost: amount -1 is negative"),
            ({"inst_name": ""}, "instname: required"),
        ):
            with pytest.raises(ValueError, match=why):
                issuer.approve(session, second, baohanno="BH-2", now=NOW, actor="a", **{**figures, **change})  # type: ignore[arg-type]
        assert second.stage == "agreed" and second.baohanno is None
        with pytest.raises(ValueError, match="payername and payeraccount: give both"):
            issuer.record_payment(
                session, first, amount=Decimal("4000.00"), now=NOW, actor="a", payer_name="X"
            )
        issuer.record_payment(
            session,
            first,
            amount=Decimal("4000.00"),
            now=NOW,
            actor="cashier",
            payer_name="某某建设有限公司",
            payer_account="6222000011112222",
        )
        first_id = first.id
    with sessions() as session:
        app = issuer.get(session, first_id)
        assert (app.stage, app.baohanno, app.rate, app.cost) == (
            "paid",
            "BH-1",
            Decimal("0.005"),
            Decimal(4000),
        )
        assert (app.paid_amount, app.payer_account) == (Decimal("4000.00"), "6222000011112222")
        assert issuer.history(session, app)[-2].detail == {
            "baohanno": "BH-1",
            "rate": "0.005",
            "cost": "4000.00",
        }


def test_twins_arriving_together_make_one_application(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    issuer = Applications("issuer", BOX)
    barrier, results, errors = threading.Barrier(4), [], []

    def submit() -> None:
        try:
            barrier.wait(timeout=10)
            with transaction(sessions) as session:
                app, created = issuer.add(session, peers[0], sealed("TWIN"), now=NOW, actor="K1")
                results.append((app.id, created))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len({app_id for app_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
