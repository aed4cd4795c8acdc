"""`baohan dispatch tender`: a process of its own delivers what a tender role queued, beside its servers, on
SQLite and PostgreSQL; SIGTERM stops it cleanly; operator mistakes are one line, exit 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest
from alembic import command
from typer.testing import CliRunner

from baohan.adapters.db import migrate
from baohan.cli.main import build
from tests.cli.test_cli_errors import Ran, in_a_process, one_line_error
from tests.procurement.harness import wait_for
from tests.tender.issuer_kit import INSTITUTION, World, world

PASSPHRASE = "tender issuer test passphrase"  # the kit's BOX
CREDIT_CODE = "91330100MA2DISP001"
ENV = {**os.environ, "BAOHAN_KEY_PASSPHRASE": PASSPHRASE}
ISSUER = ("--institution-name", INSTITUTION, "--credit-code", CREDIT_CODE)


@pytest.fixture
def issuer(db_url: str) -> Iterator[World]:
    """The tender issuer's database (our key stored under BOX), the recording platform it notifies."""
    with world(db_url) as w:
        yield w


def dispatch(*args: str, **env: str | None) -> Ran:
    """``baohan dispatch tender args`` in this process (each case here fails before dispatching)."""
    argv = ["dispatch", "tender", *args]
    given = {"BAOHAN_KEY_PASSPHRASE": PASSPHRASE, **env}
    result = CliRunner().invoke(build(["baohan", *argv]), argv, env=given)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def test_a_dispatch_process_delivers_the_issuers_notice_and_stops_on_sigterm(
    issuer: World, db_url: str
) -> None:
    token, key = issuer.apply("D-1")
    issuer.agree(token, key)
    approved = issuer.issuer.service.approve(issuer.app_pk("D-1"), rate=Decimal("0.005"), actor="op")
    assert issuer.issuer.pending() == 1 and issuer.received("baohannotice") == []
    proc = subprocess.Popen(
        [sys.executable, "-m", "baohan.cli.main", "dispatch", "tender", "--role", "issuer", "--db", db_url,
         *ISSUER, "--concurrency", "2", "--idle-sleep", "0.05"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        [notice] = wait_for(lambda: issuer.received("baohannotice"), "baohannotice delivered", timeout=60)
        assert notice.model.applyno == "D-1" and notice.model.baohanno == approved.baohanno
        assert notice.model.cost == approved.cost and notice.model.applystatus == "1"
        wait_for(lambda: issuer.issuer.pending() == 0, "an empty outbox")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    logged = [json.loads(line) for line in (proc.stderr.read() if proc.stderr else "").splitlines()]
    messages = [line.get("message", "") for line in logged]
    assert any(m.startswith("dispatching the tender issuer outbox") for m in messages), messages
    assert messages[-1] == "dispatcher stopped", messages
    assert [line for line in logged if line.get("outcome") == "delivered"], logged


def test_operator_mistakes_are_one_line(issuer: World, db_url: str) -> None:
    at = ("--db", db_url)
    one_line_error(dispatch("--role", "bank", *at, *ISSUER), "--role must be issuer or platform")
    one_line_error(dispatch("--role", "issuer", "--db", "not a url", *ISSUER), "not a url")
    one_line_error(dispatch("--role", "issuer", *at), "needs --institution-name")
    one_line_error(
        dispatch("--role", "issuer", *at, "--institution-name", INSTITUTION), "needs --credit-code"
    )
    one_line_error(dispatch("--role", "issuer", *at, *ISSUER, "--also", "tender"), "--also tender")
    one_line_error(dispatch("--role", "issuer", *at, *ISSUER, "--log-level", "loud"), "--log-level")
    one_line_error(
        dispatch("--role", "issuer", *at, *ISSUER, "--public-url", "ftp://x"), "--public-url must be an http"
    )
    one_line_error(
        dispatch("--role", "issuer", *at, *ISSUER, BAOHAN_KEY_PASSPHRASE=None), "BAOHAN_KEY_PASSPHRASE"
    )
    # Our key was stored under the kit's passphrase: another does not open it.
    one_line_error(
        dispatch("--role", "issuer", *at, *ISSUER, BAOHAN_KEY_PASSPHRASE="not the passphrase"),
        "wrong passphrase",
    )
    # A usage error is one line too: the console script's, in a process of its own.
    one_line_error(
        in_a_process("dispatch", "tender", "--role", "platform", *at, "--concurrency", "0"), "--concurrency"
    )
    # Nothing was delivered by any of them.
    assert issuer.issuer.pending() == 0 and issuer.platform.platform.handled == []


def test_an_out_of_date_schema_is_refused(db_url: str) -> None:
    command.downgrade(migrate.alembic_config(db_url), "-1")
    behind = migrate.current(db_url)
    assert behind != migrate.head()
    one_line_error(
        dispatch("--role", "platform", "--db", db_url), f"at revision {behind}", "baohan db upgrade"
    )
    assert migrate.current(db_url) == behind
