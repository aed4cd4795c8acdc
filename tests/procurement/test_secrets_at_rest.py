"""Planted plaintexts: where each may be found after a normal flow, a failing delivery and failing requests.

Secrets (the appsecret, the private keys, the passphrase) and personal identity numbers (the legal
representative's and the contact's ID card numbers) are found nowhere in clear: no log record, no row,
no byte of a database file. A supplier's social credit code is part of the application, so it is in the
rows that carry the application and its letter, and nowhere else: never in a log record, a delivery
error or a replay record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text, update

from baohan.adapters.db.tables import Counterparty, OwnKey, StoredFile
from baohan.adapters.outbox import OutboxAttempt
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel
from baohan.services.procurement.runtime import RoleRuntime
from tests.procurement.harness import (
    APPID,
    APPKEY,
    APPSECRET,
    PASSPHRASE,
    Pair,
    application_fields,
    running_pair,
    wait_for,
)
from tests.procurement.test_lifecycle import approve_and_issue, submit

PERSONAL = {  # people's ID card numbers (PIPL): sealed at rest, so in clear nowhere
    "legalIdNo": "330106198707150017",
    "contractCerNo": "330106199212240025",
}
COMPANY = {"socialCreditCode": "91330106PLNT00001Q"}  # the supplier's, a company's, not a person's
IDENTITY = PERSONAL | COMPANY  # planted in every application of this test
# Where the supplier's code belongs, by role: the application on each side, the issued letter (it
# names the supplier), and on the platform the ELY101 that carried the application (its outbox).
IDENTITY_MAY_BE_IN = {
    "issuer": {"applications", "stored_files"},
    "platform": {"applications", "stored_files", "outbox_messages"},
}


@pytest.fixture
def pair(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Pair]:
    caplog.set_level(logging.DEBUG)  # from the start: registering keys and counterparties is covered too
    with running_pair(f"sqlite:///{tmp_path}/issuer.db", f"sqlite:///{tmp_path}/platform.db") as running:
        yield running


def as_platform(pair: Pair, appsecret: str = APPSECRET) -> ProcurementClient:
    channel = Channel(APPID, APPKEY, appsecret, pair.platform_key, pair.issuer_key.public_key)
    return ProcurementClient(pair.issuer_endpoint, channel)


def rows_by_table(runtime: RoleRuntime) -> dict[str, list[str]]:
    """Every value of every row, as text (bytes decoded leniently), by table."""
    dump: dict[str, list[str]] = {}
    with runtime.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            dump[table] = [
                value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                for row in connection.execute(text(f'SELECT * FROM "{table}"'))  # noqa: S608 - names from the schema
                for value in row
            ]
    return dump


def file_bytes(runtime: RoleRuntime) -> bytes:
    """The SQLite database as it is on disk: the file, its WAL and shared memory."""
    path = Path(str(runtime.engine.url.database))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def run_every_path(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    # The normal flow: apply, approve, pay, issue, fetch and verify the letter.
    approve_and_issue(pair, "PLANT-1", **IDENTITY)

    # A delivery that fails: the platform is down before the issuer's ELY102 notice goes out.
    submit(pair, "PLANT-2", performanceBond="6000000.00", **IDENTITY)  # manual review: no notice yet
    wait_for(lambda: pair.issuer_app("PLANT-2").get("stage") == "review", "PLANT-2 in review")
    pair.platform_server.stop()
    assert pair.issuer_admin.post("/admin/applications/PLANT-2/approve").status_code == 200

    def failed_attempts() -> list[OutboxAttempt]:
        with pair.issuer.sessions() as session:
            return list(session.scalars(select(OutboxAttempt).where(OutboxAttempt.ok.is_(False))))

    wait_for(lambda: len(failed_attempts()) >= 2, "failed deliveries while the platform is down")
    assert any(
        r.name == "baohan.adapters.outbox" and r.levelno == logging.WARNING and "failed" in r.getMessage()
        for r in caplog.records
    ), "the failed delivery was not logged"
    pair.restart_platform()
    wait_for(lambda: pair.platform_app("PLANT-2").get("stage") == "approved", "the notice after the restart")

    # Requests that fail: an invalid application (decrypted, then refused), a wrong sign, and an
    # unexpected error inside the issuer (its stored letter corrupted), logged with its traceback.
    with as_platform(pair) as client:
        refused = client.send("ELY101", application_fields("PLANT-3", performanceBond="12.5", **IDENTITY))
    assert refused.code.value == "103" and "performanceBond" in refused.message
    with as_platform(pair, appsecret="not the shared secret") as client:
        assert client.send("ELY101", application_fields("PLANT-4", **IDENTITY)).code.value == "101"
    file_id = pair.issuer.service.application("PLANT-1").file_id
    with pair.issuer.sessions() as session:
        session.execute(update(StoredFile).where(StoredFile.id == file_id).values(content=b"%PDF-garbage"))
        session.commit()
    with as_platform(pair) as client:
        assert client.send("ELY103", {"applicationId": "PLANT-1"}).code.value == "302"
    assert any(r.exc_info for r in caplog.records), "the unexpected error was not logged with its traceback"


def test_planted_plaintexts_stay_where_they_belong(pair: Pair, caplog: pytest.LogCaptureFixture) -> None:
    run_every_path(pair, caplog)
    pair.issuer.stop()  # flushes nothing new: every path above has finished
    pair.platform.stop()

    secrets = {
        "appsecret": APPSECRET,
        "passphrase": PASSPHRASE,
        **{
            f"{who} private key{case}": convert(key.to_hex())
            for who, key in (("issuer", pair.issuer_key), ("platform", pair.platform_key))
            for case, convert in (("", str.lower), (" (upper)", str.upper))
        },
    }
    raw_keys = {"issuer": pair.issuer_key.to_bytes(), "platform": pair.platform_key.to_bytes()}

    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    records = caplog.get_records("setup") + caplog.records  # the pair's start and this test's run
    logged = [formatter.format(record) + repr(vars(record)) for record in records]
    assert len(logged) > 50  # DEBUG from the servers, clients, dispatchers and the database
    for name, planted in (secrets | IDENTITY).items():
        leaks = [line[:200] for line in logged if planted in line]
        assert not leaks, f"{name} in a log record: {leaks[0]}"

    for runtime in (pair.issuer, pair.platform):
        dump = rows_by_table(runtime)
        assert dump["outbox_messages"] and dump["outbox_attempts"] and dump["idempotency_records"]
        with runtime.sessions() as session:
            sealed = [*session.scalars(select(OwnKey.private_key_sealed))]
            sealed += session.scalars(select(Counterparty.appsecret_sealed))
        assert len(sealed) == 2 and all(v.startswith("bh2$") for v in sealed)  # sealed, not missing
        for name, planted in (secrets | PERSONAL).items():
            assert not [t for t, values in dump.items() if any(planted in v for v in values)], name
        on_disk = file_bytes(runtime)
        for name, planted in (secrets | PERSONAL).items():
            assert planted.encode() not in on_disk, f"{name} in {runtime.role}'s database file"
        for who, raw in raw_keys.items():
            assert raw not in on_disk, f"the {who} private key's bytes in {runtime.role}'s database file"
        for name, planted in COMPANY.items():
            found = {t for t, values in dump.items() if any(planted in v for v in values)}
            assert "applications" in found, f"{name} missing from {runtime.role}'s application"
            allowed = IDENTITY_MAY_BE_IN[runtime.role]
            assert found <= allowed, f"{name} in {runtime.role}'s {found - allowed}"
