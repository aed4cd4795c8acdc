"""Personal identity numbers (PIPL) are sealed at rest on both roles, masked for operators unless revealed
(and each reveal recorded), and revision 0011 seals the rows stored before it (and opens them going back).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select, text

from baohan.adapters import outbox, personal
from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.adapters.db.tables import Application, Claim, Counterparty, OwnKey
from baohan.adapters.keystore import PASSPHRASE_ENV, KeyStoreError, SecretBox
from baohan.adapters.outbox import OutboxMessage
from tests.procurement.harness import PASSPHRASE, Pair, application_fields, running_pair, wait_for
from tests.procurement.test_lifecycle import approve_and_issue, claim_fields

LEGAL_ID, CONTACT_ID = "110101197001015678", "110101197502029876"  # ELY101 legalIdNo, contractCerNo
CLAIMANT_ID = "110101198012123456"  # ELY105 contractCertCode


def test_masking_keeps_the_region_and_the_last_four() -> None:
    assert personal.mask("110101197001015678") == "110101********5678"
    assert personal.mask("short") == personal.HIDDEN


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    with running_pair(f"sqlite:///{tmp_path}/issuer.db", f"sqlite:///{tmp_path}/platform.db") as running:
        yield running


def cli(*args: str) -> Any:
    env = {**os.environ, PASSPHRASE_ENV: PASSPHRASE}
    result = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _files(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("*.db*")))


def test_no_identity_number_is_stored_in_clear_and_operators_see_them_masked(
    pair: Pair, tmp_path: Path
) -> None:
    fields = application_fields("PII-1", legalIdNo=LEGAL_ID, contractCerNo=CONTACT_ID)
    reply = pair.platform_admin.post(
        "/admin/applications", json={"institution_id": pair.institution_id, "fields": fields}
    )
    assert reply.status_code == 202, reply.text
    approve_and_issue(pair, "PII-1x")  # another, so the claim below is not the only activity
    wait_for(lambda: pair.issuer_app("PII-1").get("stage") == "approved", "PII-1 approved")
    premium = pair.issuer_app("PII-1")["premium"]
    paid = pair.issuer_admin.post(
        "/admin/applications/PII-1/payments",
        json={"amount": premium, "paid_at": "2026-11-23T10:00:00+08:00", "pay_type": "01"},
    )
    assert paid.status_code == 200, paid.text
    wait_for(lambda: pair.platform_app("PII-1").get("verification"), "PII-1 verified")
    claim = pair.platform_admin.post(
        "/admin/applications/PII-1/claims", json={**claim_fields("100.00"), "contract_cert_code": CLAIMANT_ID}
    )
    assert claim.status_code == 202, claim.text
    listed = wait_for(
        lambda: pair.issuer_admin.get("/admin/claims").json()["items"], "the claim at the issuer"
    )
    pair.platform.dispatcher.run_once(50)  # nothing left in clear waiting in an outbox either

    # Operators: masked by default; in clear when asked, and the asking recorded.
    assert listed[0]["request"]["contractCertCode"] == "110101********3456"
    revealed = pair.issuer_admin.get("/admin/claims", params={"reveal": "true"}).json()["items"]
    assert revealed[0]["request"]["contractCertCode"] == CLAIMANT_ID
    history = pair.issuer_admin.get("/admin/applications/PII-1/history").json()["items"]
    assert [(e["event"], e["detail"]) for e in history if e["event"] == "reveal"] == [
        ("reveal", {"revealed": "claimant identity numbers"})
    ]
    # The operator commands likewise: masked, or in clear with --reveal, recorded with who asked.
    db = ["--db", str(pair.issuer.engine.url.render_as_string(hide_password=False))]
    assert cli("issuer", "claims", *db)[0]["request"]["contractCertCode"] == "110101********3456"
    shown = cli("issuer", "show", "PII-1", *db)
    assert shown["personal"] == {"legalIdNo": "110101********5678", "contractCerNo": "110101********9876"}
    shown = cli("issuer", "show", "PII-1", *db, "--reveal", "--actor", "alice")
    assert shown["personal"] == {"legalIdNo": LEGAL_ID, "contractCerNo": CONTACT_ID}
    assert cli("issuer", "claims", *db, "--reveal")[0]["request"]["contractCertCode"] == CLAIMANT_ID
    reveals = [(e["actor"], e["detail"]["revealed"]) for e in shown["history"] if e["event"] == "reveal"]
    assert reveals[-1] == ("alice", "applicant identity numbers")

    # At rest: neither database file holds any of the numbers, in any table (or the WAL).
    for runtime in (pair.issuer, pair.platform):
        runtime.engine.dispose()  # checkpoints and closes, so the files hold everything written
    stored = _files(tmp_path)
    assert stored and b"PII-1" in stored
    for number in (LEGAL_ID, CONTACT_ID, CLAIMANT_ID):
        assert number.encode() not in stored, number
    # Yet the issuer reads them back (the platform sent them, opened, over the wire).
    with pair.issuer.sessions() as session:
        app = session.query(Application).filter_by(application_id="PII-1").one()
        opened = personal.unseal(pair.issuer.registry.box, app.request, "applications", app.id)
    assert (opened["legalIdNo"], opened["contractCerNo"]) == (LEGAL_ID, CONTACT_ID)


# -- revision 0011 ---------------------------------------------------------------------------------------


def _plain_rows(url: str) -> None:
    """An application, its ELY101 in the outbox and a claim, stored as before 0011: the numbers in clear."""
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as session:
            session.add(OwnKey(name="default", private_key_sealed="x", public_key="04"))
            session.flush()  # no relationships: the unit of work does not order the tables by their keys
            session.add(
                Counterparty(
                    id="cp",
                    protocol="procurement",
                    role="platform",
                    name="p",
                    appid="A",
                    appkey="k",
                    appsecret_sealed="x",
                    public_key="04",
                    own_key_name="default",
                )
            )
            session.flush()
            request = application_fields("MIG-1", legalIdNo=LEGAL_ID, contractCerNo=CONTACT_ID)
            session.add(
                Application(
                    id="app-1",
                    side="issuer",
                    counterparty_id="cp",
                    application_id="MIG-1",
                    stage="issued",
                    content_hash="h",
                    request=request,
                    supplier_code="s",
                    supplier_name="s",
                    purchaser_code="p",
                    purchaser_name="p",
                    project_code="P",
                    project_name="P",
                    bid_code="B",
                    bid_name="B",
                    amount=Decimal("1.00"),
                    term_months=12,
                )
            )
            session.flush()
            queued = outbox.message_values(  # as the platform queued an ELY101 before 0011
                destination="cp", kind="ELY101", payload=request, dedupe_key="app-1:ELY101"
            )
            del queued["request_id"]  # a column of a later revision (0012)
            session.execute(insert(OutboxMessage).values(queued))
            session.add(
                Claim(
                    id="claim-1",
                    application_pk="app-1",
                    status="open",
                    request={**claim_fields("1.00"), "contractCertCode": CLAIMANT_ID},
                    claim_amount=Decimal("1.00"),
                )
            )
    finally:
        engine.dispose()


def _requests(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT request FROM applications UNION ALL SELECT request FROM claims "
                    "UNION ALL SELECT payload FROM outbox_messages"
                )
            ).all()
        return "\n".join(row[0] for row in rows)
    finally:
        engine.dispose()


def test_0011_seals_the_rows_stored_before_it_and_going_back_opens_them(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)
    cfg = migrate.alembic_config(db_url)
    command.downgrade(cfg, "0010")  # nothing sealed yet: no passphrase needed
    _plain_rows(db_url)
    with pytest.raises(KeyStoreError, match=rf"0011 must seal .* of 3 stored record\(s\): {PASSPHRASE_ENV}"):
        migrate.upgrade(db_url)
    assert migrate.current(db_url) == "0010"  # rolled back whole

    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    migrate.upgrade(db_url)
    stored = _requests(db_url)
    assert all(n not in stored for n in (LEGAL_ID, CONTACT_ID, CLAIMANT_ID)) and "bh2$" in stored
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            raw = json.loads(connection.scalar(text("SELECT request FROM claims")))
    finally:
        engine.dispose()
    assert personal.unseal(SecretBox(PASSPHRASE), raw, "claims", "claim-1")["contractCertCode"] == CLAIMANT_ID
    engine = make_engine(db_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            (message,) = session.scalars(select(OutboxMessage)).all()
            to_send = personal.unseal_message(SecretBox(PASSPHRASE), message.payload, message.dedupe_key)
    finally:
        engine.dispose()
    assert (to_send["legalIdNo"], to_send["contractCerNo"]) == (LEGAL_ID, CONTACT_ID)  # what the Sender sends

    monkeypatch.delenv(PASSPHRASE_ENV)
    with pytest.raises(KeyStoreError, match="0011 must open"):
        command.downgrade(cfg, "0010")
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    command.downgrade(cfg, "0010")
    back = _requests(db_url)
    assert all(n in back for n in (LEGAL_ID, CONTACT_ID, CLAIMANT_ID)) and "bh2$" not in back
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_a_number_sent_looking_sealed_is_sealed_all_the_same() -> None:
    box = SecretBox(PASSPHRASE)
    sealed = personal.seal(box, {"legalIdNo": "bh2$AAAAAAAAAAAAAA"}, "applications", "a")
    assert sealed["legalIdNo"] != "bh2$AAAAAAAAAAAAAA" and personal.is_sealed(sealed["legalIdNo"])
    assert personal.unseal(box, sealed, "applications", "a") == {"legalIdNo": "bh2$AAAAAAAAAAAAAA"}
