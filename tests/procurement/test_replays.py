"""Idempotency records: large answers kept by reference, retention and its purge, and the move from
``processed_requests`` (revision 0009), on both databases.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, transaction, utcnow
from baohan.adapters.db.tables import IdempotencyRecord
from baohan.adapters.files import DatabaseFileStore
from baohan.adapters.keystore import SecretBox
from baohan.services.filerefs import FILE_REF
from baohan.services.idempotency import Key, KeyReused, Replays
from baohan.services.procurement.runtime import open_runtime
from tests.procurement.harness import APPID, PASSPHRASE, Pair, register_platform, running_pair, wait_for
from tests.procurement.test_lifecycle import approve_and_issue


@pytest.fixture
def pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    with running_pair(*db_pair) as running:
        yield running


def test_a_fetched_letter_is_kept_by_reference_and_replayed_whole(pair: Pair) -> None:
    approve_and_issue(pair, "REF-1")
    with pair.issuer.sessions() as session:
        records = session.scalars(select(IdempotencyRecord)).all()
    [fetch] = [r for r in records if r.data and "guaranteeFileContent" in r.data]
    reference = fetch.data["guaranteeFileContent"]  # type: ignore[index]
    assert set(reference) == {FILE_REF}  # the id of the letter, not its Base64 copy
    assert all(len(str(r.data)) < 2000 for r in records)

    name, letter = pair.issuer.service.file("REF-1")
    again = pair.issuer.service.replayed(APPID, fetch.key, fetch.fingerprint)
    assert again is not None and again.code.value == "000"
    assert again.data == {
        "guaranteeFileName": name,
        "guaranteeFileContent": base64.b64encode(letter).decode(),
    }


def test_the_same_key_with_other_content_is_refused(sessions) -> None:  # type: ignore[no-untyped-def]
    replays = Replays(DatabaseFileStore())
    key = Key("tender", "platform-1", "baohanapply", "APPLY-0001")
    with transaction(sessions) as session:
        replays.record(session, key, "f" * 64, "1", "ok", {"redirecturl": "https://…"})
    with sessions() as session:
        assert replays.find(session, key, "f" * 64) is not None
        assert replays.find(session, Key("tender", "platform-1", "quitapply", "APPLY-0001"), "e" * 64) is None
        with pytest.raises(KeyReused):
            replays.find(session, key, "e" * 64)


def test_a_reference_to_a_field_the_answer_lacks_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="not in the answer"):
        Replays(DatabaseFileStore()).row(
            Key("p", "c", "", "k"), "f", "000", "ok", {"a": 1}, now=utcnow(), stored=(("b", "file-1"),)
        )


def test_expired_records_are_purged_by_the_dispatcher(db_url: str) -> None:
    runtime = open_runtime("issuer", db_url, SecretBox(PASSPHRASE), replay_retention=timedelta(days=7))
    try:
        peer_id = register_platform(runtime.registry)
        replays = Replays(DatabaseFileStore(), timedelta(days=7))
        now = utcnow()
        with transaction(runtime.sessions) as session:
            for n, made in ((1, now - timedelta(days=8)), (2, now - timedelta(days=6))):
                replays.record(
                    session,
                    Key("procurement", peer_id, "", f"{n:032x}"),
                    "f" * 64,
                    "000",
                    "成功",
                    None,
                    now=made,
                )
        runtime.start(idle_sleep=0.02)

        def keys() -> list[str]:
            with runtime.sessions() as session:
                return list(session.scalars(select(IdempotencyRecord.key).order_by(IdempotencyRecord.key)))

        wait_for(lambda: keys() == [f"{2:032x}"], "the expired record purged, the other kept")
    finally:
        runtime.stop()


def test_the_migration_moves_processed_requests_and_back(empty_db_url: str, tmp_path: Path) -> None:
    migrate.upgrade(empty_db_url, "0008")
    engine = make_engine(empty_db_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO own_keys (name, private_key_sealed, public_key, created_at) VALUES ('default', 'x', '04', :t)"
                ),
                {"t": utcnow()},
            )
            connection.execute(
                text(
                    "INSERT INTO counterparties (id, protocol, role, name, appid, appkey, appsecret_sealed, public_key, "
                    "own_key_name, per_transcode_paths, profile, active, created_at) VALUES "
                    "('peer-1', 'procurement', 'platform', 'p', 'BANK0001', 'k', 'x', '04', 'default', false, '{}', true, :t)"
                ),
                {"t": utcnow()},
            )
            connection.execute(
                text(
                    "INSERT INTO processed_requests (appid, msgcode, transcode, fingerprint, code, message, data, created_at) "
                    "VALUES ('BANK0001', :m, 'ELY101', :f, '000', '成功', NULL, :t)"
                ),
                {"m": "a" * 32, "f": "f" * 64, "t": utcnow()},
            )
        migrate.upgrade(empty_db_url)
        with engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT protocol, counterparty, interface, key, code, created_at, expires_at FROM idempotency_records"
                )
            ).one()
        assert tuple(row)[:5] == ("procurement", "peer-1", "", "a" * 32, "000")
        command.downgrade(migrate.alembic_config(empty_db_url), "0008")
        with engine.connect() as connection:
            back = connection.execute(
                text("SELECT appid, msgcode, fingerprint FROM processed_requests")
            ).one()
        assert tuple(back) == ("BANK0001", "a" * 32, "f" * 64)
    finally:
        engine.dispose()
