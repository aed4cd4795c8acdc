"""ELY101 group commit: batches answer each application as if it were alone, on both databases."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from baohan.adapters import personal
from baohan.adapters.db.engine import make_engine, make_session_factory
from baohan.adapters.db.tables import Application, ApplicationEvent, IdempotencyRecord
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage
from baohan.protocols.procurement import models as m
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.router import Answer, Inbound
from baohan.services.procurement.intake import Intake
from baohan.services.procurement.registry import Registry
from baohan.services.procurement.runtime import DEFAULT_RULES
from tests.procurement.harness import application_fields, register_platform
from tests.procurement.harness import inbound as harness_inbound


def inbound(application_id: str, msgcode: str, **changes: str) -> Inbound:
    return harness_inbound("ELY101", application_fields(application_id, **changes), msgcode)


BOX = SecretBox("intake test passphrase")


def _register_platform(sessions) -> str:  # type: ignore[no-untyped-def]
    """Our identity and one platform (appid BANK0001); the platform's counterparty id."""
    return register_platform(Registry(sessions, BOX))


@pytest.fixture
def setup(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    peer_id = _register_platform(sessions)
    intakes: list[Intake] = []

    def new_intake() -> Intake:
        intake = Intake(
            make_session_factory(make_engine(db_url)),
            DEFAULT_RULES,
            box=BOX,
            notice_deadline=timedelta(days=1),
        )
        intakes.append(intake)
        return intake

    yield sessions, peer_id, new_intake
    for intake in intakes:
        intake.close()
    engine.dispose()


def count(sessions, table) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table)))


def test_concurrent_applications_are_batched_and_each_answered(setup) -> None:  # type: ignore[no-untyped-def]
    sessions, peer_id, new_intake = setup
    intake = new_intake()
    sizes: list[int] = []
    original = intake._commit

    def recording(jobs):  # type: ignore[no-untyped-def]
        sizes.append(len(jobs))
        return original(jobs)

    intake._commit = recording  # type: ignore[method-assign]
    requests = [inbound(f"B-{i:03d}", f"{i:032x}") for i in range(60)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda r: intake.receive(r, peer_id), requests))
    assert all(isinstance(a, Answer) and a.code.value == "000" for a in answers)
    assert max(sizes) > 1, sizes  # some applications really did share a commit
    assert count(sessions, Application) == 60
    assert count(sessions, IdempotencyRecord) == 60
    assert count(sessions, OutboxMessage) == 60  # one ELY102 01 each
    assert count(sessions, ApplicationEvent) == 120  # receive + approve each


def test_duplicates_inside_one_batch(setup) -> None:  # type: ignore[no-untyped-def]
    sessions, peer_id, new_intake = setup
    intake = new_intake()
    first = inbound("DUP-1", "a" * 32)
    same = inbound("DUP-1", "b" * 32)
    different = inbound("DUP-1", "c" * 32, performanceBond="1.00")
    replay = inbound("DUP-1", "a" * 32)
    reused = inbound("DUP-2", "a" * 32)
    from baohan.services.procurement.intake import _Job

    jobs = [_Job(r, peer_id) for r in (first, same, different)]
    outcomes = intake._commit(jobs)
    assert [type(o) for o in outcomes] == [Answer, Answer, ProtocolError]
    assert "different content" in str(outcomes[2])
    outcomes = intake._commit([_Job(replay, peer_id), _Job(reused, peer_id)])
    assert isinstance(outcomes[0], Answer) and outcomes[0].code.value == "000"
    assert isinstance(outcomes[1], ProtocolError) and "msgcode" in str(outcomes[1])
    assert count(sessions, Application) == 1 and count(sessions, OutboxMessage) == 1


def test_a_refusal_and_a_manual_review_in_the_same_batch(setup) -> None:  # type: ignore[no-untyped-def]
    sessions, peer_id, new_intake = setup
    intake = new_intake()
    from baohan.services.procurement.intake import _Job

    intake._commit(
        [
            _Job(inbound("R-1", "1" * 32, guaranteeDate="120"), peer_id),
            _Job(inbound("R-2", "2" * 32, performanceBond="6000000.00"), peer_id),
        ]
    )
    with sessions() as session:
        stages = dict(session.execute(select(Application.application_id, Application.stage)).all())
        notices = [row.payload for row in session.scalars(select(OutboxMessage))]
    assert stages == {"R-1": "rejected", "R-2": "review"}
    assert notices == [
        {
            "applicationId": "R-1",
            "applicationStatus": "02",
            "failReason": "term of 120 months is outside 1–60",
        }
    ]


def test_two_writers_racing_on_the_same_applications(setup) -> None:  # type: ignore[no-untyped-def]
    """As two processes would: each batch that loses a race is retried alone and answered idempotently."""
    sessions, peer_id, new_intake = setup
    a, b = new_intake(), new_intake()
    requests = [inbound(f"RACE-{i:03d}", f"{i:032x}") for i in range(40)]
    twins = [inbound(f"RACE-{i:03d}", f"{i + 1000:032x}") for i in range(40)]
    start = threading.Barrier(2)

    def run(intake: Intake, batch: list[Inbound]) -> list[Answer]:
        start.wait()
        with ThreadPoolExecutor(max_workers=20) as pool:
            return list(pool.map(lambda r: intake.receive(r, peer_id), batch))

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, (a, b), (requests, twins)))
    assert all(answer.code.value == "000" for answers in results for answer in answers)
    assert count(sessions, Application) == 40  # each application once, whoever won
    assert count(sessions, OutboxMessage) == 40
    assert count(sessions, IdempotencyRecord) == 80  # both msgcodes answered and remembered


def test_event_loop_callers_are_answered_together_after_the_commit(setup) -> None:  # type: ignore[no-untyped-def]
    sessions, peer_id, new_intake = setup
    intake = new_intake()

    async def many() -> list[Answer | BaseException]:
        requests = [inbound(f"LOOP-{i:03d}", f"{i:032x}") for i in range(40)]
        return await asyncio.gather(
            *(intake.receive_async(r, peer_id) for r in requests), return_exceptions=True
        )

    answers = asyncio.run(many())
    assert all(isinstance(a, Answer) and a.code.value == "000" for a in answers)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 40


def test_answers_for_a_caller_that_gave_up_or_a_closed_loop_are_dropped_quietly(setup) -> None:  # type: ignore[no-untyped-def]
    from baohan.services.procurement.intake import _Job, _settle

    _, peer_id, _ = setup
    loop = asyncio.new_event_loop()
    gave_up: asyncio.Future[Answer] = loop.create_future()
    gave_up.cancel()
    waiting: asyncio.Future[Answer] = loop.create_future()
    _settle(
        [
            (_Job(inbound("GONE-1", "1" * 32), peer_id, gave_up, loop), Answer()),
            (_Job(inbound("GONE-2", "2" * 32), peer_id, waiting, loop), ProtocolError(Code.INVALID, "x: no")),
        ]
    )
    loop.run_until_complete(asyncio.sleep(0))
    assert gave_up.cancelled()
    assert isinstance(waiting.exception(), ProtocolError)
    loop.close()
    late: asyncio.Future[Answer] = asyncio.Future(loop=loop)
    _settle([(_Job(inbound("GONE-3", "3" * 32), peer_id, late, loop), Answer())])  # no RuntimeError
    assert not late.done()


def test_every_intake_lookup_searches_an_index_never_scans_a_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # SQLite's planner has no statistics: a row-value IN, or an IN beside two equalities on another
    # index, made it scan whole tables that grow with every application. Ask it for each query's plan.
    from sqlalchemy import event

    from baohan.adapters.db import migrate

    url = f"sqlite:///{tmp_path}/plans.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    peer_id = _register_platform(sessions)
    selects: list[str] = []

    def remember(statement: str) -> None:  # SQLite's own trace: bound values written in, any path
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    @event.listens_for(engine, "checkout")
    def trace(dbapi_connection, record, proxy) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.set_trace_callback(remember)

    intake = Intake(sessions, DEFAULT_RULES, box=BOX, notice_deadline=timedelta(days=1))
    try:
        # Batches of many: the planner's choice changes with the length of the IN lists.
        futures = [
            intake.submit(inbound(f"PLAN-{i}", f"{i:032x}", projectCode=f"P-{i}"), peer_id) for i in range(48)
        ]
        assert all(f.result(timeout=60).code.value == "000" for f in futures)
    finally:
        intake.close()
    event.remove(engine, "checkout", trace)
    engine.dispose()
    assert len(selects) >= 3 and any(s.count("'PLAN-") > 20 for s in selects)  # three a batch, long lists
    with engine.connect() as connection:
        for statement in selects:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}").all()
            scans = [row[3] for row in plan if row[3].startswith("SCAN") and "CONSTANT ROW" not in row[3]]
            assert not scans, (statement, plan)
    engine.dispose()


def test_the_routers_canonical_text_gives_the_same_hash_and_record_as_encoding_again(setup) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from baohan.protocols.procurement.envelope import canonical_json
    from baohan.services.procurement.notices import content_hash

    sessions, peer_id, new_intake = setup
    intake = new_intake()
    plain = inbound("CANON-1", "c" * 32)
    with_text = replace(plain, canonical=canonical_json(plain.payload))
    assert intake.receive(with_text, peer_id).code.value == "000"
    # The same content again under a new msgcode, this time without the router's text: an idempotent resubmission.
    again = replace(inbound("CANON-1", "d" * 32), canonical="")
    assert intake.receive(again, peer_id).code.value == "000"
    with sessions() as session:
        rows = session.scalars(select(Application).where(Application.application_id == "CANON-1")).all()
    assert len(rows) == 1
    wire = m.to_wire(plain.message)
    stored = personal.unseal(BOX, rows[0].request, "applications", rows[0].id)
    assert stored == wire and rows[0].content_hash == content_hash(wire)
    assert rows[0].request["legalIdNo"].startswith("bh2$")  # the identity numbers are sealed at rest


def test_a_failing_batch_is_answered_and_the_writer_keeps_serving(setup) -> None:  # type: ignore[no-untyped-def]
    _, peer_id, new_intake = setup
    intake = new_intake()
    original = intake._commit
    calls = {"n": 0}

    def broken_once(jobs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return original(jobs)

    intake._commit = broken_once  # type: ignore[method-assign]

    async def two() -> tuple[object, object]:
        first = await asyncio.gather(
            intake.receive_async(inbound("FAIL-1", "f" * 32), peer_id), return_exceptions=True
        )
        second = await intake.receive_async(inbound("FAIL-2", "e" * 32), peer_id)
        return first[0], second

    first, second = asyncio.run(asyncio.wait_for(two(), 30))
    assert isinstance(first, RuntimeError) and str(first) == "boom"
    assert isinstance(second, Answer) and second.code.value == "000"


def test_one_failing_job_leaves_its_batch_neighbours_answered(setup) -> None:  # type: ignore[no-untyped-def]
    sessions, peer_id, new_intake = setup
    intake = new_intake()
    original = intake._decide

    def failing(job, *args):  # type: ignore[no-untyped-def]
        if job.request.message.applicationId == "BAD-1":
            raise RuntimeError("not a database error")
        return original(job, *args)

    intake._decide = failing  # type: ignore[method-assign]
    from baohan.services.procurement.intake import _Job

    jobs = [_Job(inbound(key, f"{i:032x}"), peer_id) for i, key in enumerate(["OK-1", "BAD-1", "OK-2"])]
    outcomes = [outcome for _, outcome in intake._outcomes(jobs)]
    assert isinstance(outcomes[1], RuntimeError)
    assert [isinstance(o, Answer) and o.code.value == "000" for o in (outcomes[0], outcomes[2])] == [
        True,
        True,
    ]
    assert count(sessions, Application) == 2


def test_new_rows_get_time_ordered_ids(setup) -> None:  # type: ignore[no-untyped-def]
    sessions, peer_id, new_intake = setup
    intake = new_intake()
    for i in range(3):
        assert intake.receive(inbound(f"T-{i}", f"{0xA0 + i:032x}"), peer_id).code is Code.OK
    with sessions() as session:
        apps = session.scalars(select(Application.id)).all()
        notices = session.scalars(select(OutboxMessage.id)).all()
    assert {uuid.UUID(pk).version for pk in apps} == {7}
    assert {uuid.UUID(pk).version for pk in notices} == {7}


def test_what_a_batch_stores_reads_back_as_the_records_say(setup) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    sessions, peer_id, new_intake = setup
    intake = new_intake()
    assert intake.receive(inbound("DOC-1", "e" * 32), peer_id).code.value == "000"
    refused = inbound("DOC-2", "f" * 32, guaranteeDate="120")
    assert intake.receive(refused, peer_id).code.value == "000"
    with sessions() as session:
        apps = {a.application_id: a for a in session.scalars(select(Application))}
        events = {
            (e.application_pk, e.event): e.detail
            for e in session.scalars(select(ApplicationEvent).order_by(ApplicationEvent.id))
        }
    approved, rejected = apps["DOC-1"], apps["DOC-2"]
    assert approved.decision_reasons == ["within the automatic approval rules"]
    assert approved.premium == Decimal("625.00")
    assert approved.amount == Decimal("125000.00") and approved.rate == Decimal("0.005000")
    assert rejected.decision_reasons == ["term of 120 months is outside 1–60"]
    assert events[(approved.id, "receive")] == {"extends": None}
    assert events[(approved.id, "approve")] == {"premium": "625.00"}
    assert events[(rejected.id, "reject")] == {"reasons": ["term of 120 months is outside 1–60"]}
