"""The operator's view of the running parts: the version, the serve listeners' settings, the outbox's
request ids surviving the schema change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine
from tests.procurement.harness import free_port

ROOT = Path(__file__).resolve().parents[2]


def baohan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_version_is_the_package_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = baohan("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"baohan {declared}\n", "")


def test_serve_refuses_one_port_for_both_listeners_and_a_port_in_use(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BAOHAN_KEY_PASSPHRASE": "operations test passphrase",
        "BAOHAN_ADMIN_TOKEN": "t" * 24,
    }
    db = f"sqlite:///{tmp_path}/x.db"
    port = free_port()
    same = baohan(
        "serve",
        "procurement",
        "--role",
        "issuer",
        "--db",
        db,
        "--port",
        str(port),
        "--admin-port",
        str(port),
        env=env,
    )
    assert same.returncode == 2 and same.stderr.startswith("error: --admin-port must differ"), same.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = baohan(
            "serve",
            "procurement",
            "--role",
            "issuer",
            "--db",
            db,
            "--port",
            str(port),
            "--admin-port",
            str(busy),
            "--migrate",  # past the schema check (a new database), to the listeners
            env=env,
        )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and lines[-1].startswith(
        f"error: --admin-port: cannot listen on 127.0.0.1:{busy}"
    ), result.stderr


def test_0012_adds_the_outbox_request_id_and_takes_it_back(empty_db_url: str) -> None:
    def columns() -> set[str]:
        engine = make_engine(empty_db_url)
        try:
            return {c["name"] for c in inspect(engine).get_columns("outbox_messages")}
        finally:
            engine.dispose()

    migrate.upgrade(empty_db_url, "0011")
    assert "request_id" not in columns()
    migrate.upgrade(empty_db_url, "0012")
    assert "request_id" in columns()
    command.downgrade(migrate.alembic_config(empty_db_url), "0011")
    assert "request_id" not in columns()
    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
