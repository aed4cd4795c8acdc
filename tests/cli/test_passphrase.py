"""A wrong key passphrase is an operator mistake: one line, exit 2, from every command that opens a role."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from baohan.adapters.keystore import PASSPHRASE_ENV, SecretBox
from baohan.services.procurement.runtime import open_runtime


def test_a_wrong_passphrase_is_one_line_and_exit_2(db_url: str) -> None:
    db = db_url
    open_runtime("issuer", db, SecretBox("the right passphrase")).stop()  # the database's KEK is made
    env = {**os.environ, PASSPHRASE_ENV: "not the right one", "BAOHAN_ADMIN_TOKEN": "t" * 24}
    for command in (["issuer", "applications"], ["serve", "procurement", "--role", "issuer"]):
        result = subprocess.run(
            [sys.executable, "-m", "baohan.cli.main", *command, "--db", db],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: wrong passphrase") and result.stderr.count("\n") == 1


def test_every_entry_point_refuses_a_wrong_passphrase_before_it_serves(tmp_path: Path) -> None:
    """The database's KEK check value is the canary: serve, dispatch and the role commands all test it at
    start, also when a migration (`db upgrade`, `--migrate`) must first seal personal data under the
    passphrase (revision 0011); a read names the upgrade it needs and changes nothing."""
    from alembic import command

    from baohan.adapters.db import migrate
    from tests.procurement.test_personal_data import _plain_rows

    db = f"sqlite:///{tmp_path}/issuer.db"
    open_runtime("issuer", db, SecretBox("the right passphrase")).stop()  # the database's KEK is made
    command.downgrade(migrate.alembic_config(db), "0010")
    _plain_rows(db)  # identity numbers in clear, for 0011 to seal: it needs the passphrase first
    env = {**os.environ, PASSPHRASE_ENV: "not the right one", "BAOHAN_ADMIN_TOKEN": "t" * 24}
    read = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", "issuer", "applications", "--db", db],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert read.returncode == 2 and "baohan db upgrade" in read.stderr and read.stderr.count("\n") == 1
    commands = (
        ["db", "upgrade"],
        ["serve", "procurement", "--role", "issuer", "--migrate"],
        ["dispatch", "procurement", "--role", "issuer", "--migrate"],
    )
    for command_line in commands:
        result = subprocess.run(
            [sys.executable, "-m", "baohan.cli.main", *command_line, "--db", db],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 2, (command_line, result.stderr)
        assert result.stderr.startswith("error: wrong passphrase") and result.stderr.count("\n") == 1
    assert migrate.current(db) == "0010"  # nothing sealed under the wrong one
