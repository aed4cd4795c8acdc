"""A wrong key passphrase is an operator mistake: one line, exit 2, from every command that opens a role."""

from __future__ import annotations

import os
import subprocess
import sys

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
