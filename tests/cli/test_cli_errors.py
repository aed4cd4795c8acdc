"""Operator mistakes at the command line are one ``error:`` line and exit status 2, on both databases; a
command that reads never creates a database nor migrates one (``baohan db upgrade`` and ``--migrate`` do)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from sqlalchemy import inspect
from typer.testing import CliRunner

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine
from baohan.cli.main import build
from baohan.gm import SM2PrivateKey
from baohan.web.serving import free_port

PASSPHRASE = "cli errors passphrase"
ENV = {"BAOHAN_KEY_PASSPHRASE": PASSPHRASE, "BAOHAN_ADMIN_TOKEN": "t" * 24}
PLATFORM_KEY = SM2PrivateKey.generate().public_key.to_hex()


@dataclass
class Ran:
    """What a command did: its exit status and output."""

    returncode: int
    stdout: str
    stderr: str


def baohan(*args: str, cwd: Path | None = None, stdin: str | None = None, **env: str) -> Ran:
    """Run ``baohan args`` in this process (the CLI's start-up would cost seconds a command)."""
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(build(["baohan", *args]), list(args), input=stdin, env={**ENV, **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


def in_a_process(*args: str, **env: str) -> Ran:
    """Run ``baohan args`` as the console script does, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV, **env},
        timeout=120,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def one_line_error(result: Ran, *words: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def ok(*args: str, **env: str) -> str:
    result = baohan(*args, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    cases = {
        "sqlite:////nonexistent/dir/x.db": "no database at /nonexistent/dir/x.db",
        "mysql://x/y": "unsupported database 'mysql'",
        "issuer.db": "is not one",
        "postgresql://u@127.0.0.1:1/db": "Connection refused",
        f"sqlite:///{tmp_path}/typo.db": "no database at",
    }
    for url, words in cases.items():
        one_line_error(baohan("issuer", "applications", cwd=tmp_path, BAOHAN_DB=url), words)
        one_line_error(baohan("counterparties", "list", "--db", url, cwd=tmp_path), words)
    one_line_error(in_a_process("issuer", "applications", BAOHAN_DB="mysql://x/y"), "mysql")
    assert list(tmp_path.iterdir()) == []  # a mistyped path made no empty database


def test_reading_commands_neither_create_nor_migrate(empty_db_url: str) -> None:
    # A database with no schema: the reads refuse it and leave it empty; a setup command makes it.
    for read in (["issuer", "applications"], ["issuer", "dead-letters"], ["counterparties", "list"]):
        one_line_error(baohan(*read, "--db", empty_db_url), "baohan db upgrade")
    if migrate.exists(empty_db_url):
        assert migrate.current(empty_db_url) is None
    else:  # SQLite: still no file
        one_line_error(baohan("db", "status", "--db", empty_db_url), "no database")
    ok("issuer", "set-identity", "--db", empty_db_url, "--test-ca")
    assert migrate.current(empty_db_url) == migrate.head()
    # One revision behind: every command but `db upgrade` and `--migrate` refuses it, and it stays behind.
    command.downgrade(migrate.alembic_config(empty_db_url), "-1")
    behind = migrate.current(empty_db_url)
    assert behind is not None and behind != migrate.head()
    for read in (["issuer", "applications"], ["issuer", "approve", "X"], ["counterparties", "list"]):
        one_line_error(baohan(*read, "--db", empty_db_url), f"at revision {behind}", "baohan db upgrade")
    serve = ("serve", "procurement", "--role", "issuer", "--db", empty_db_url, "--port", str(free_port()))
    one_line_error(baohan(*serve), f"at revision {behind}")
    one_line_error(baohan("dispatch", "procurement", "--role", "issuer", "--db", empty_db_url), "baohan db")
    status = baohan("db", "status", "--db", empty_db_url)
    assert status.returncode == 1 and f'"current": "{behind}"' in status.stdout
    assert migrate.current(empty_db_url) == behind
    ok("db", "upgrade", "--db", empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
    assert ok("issuer", "applications", "--db", empty_db_url).strip() == "[]"


def test_serve_migrates_only_when_told(db_url: str) -> None:
    command.downgrade(migrate.alembic_config(db_url), "-1")
    port = free_port()
    with socket.socket() as busy:  # the port is taken, so a serve that passes its checks stops there
        busy.bind(("127.0.0.1", port))
        busy.listen()
        serve = ("serve", "procurement", "--role", "issuer", "--db", db_url, "--port", str(port))
        one_line_error(baohan(*serve), "baohan db upgrade")
        one_line_error(baohan(*serve, "--migrate"), f"cannot listen on 127.0.0.1:{port}", "in use")
    assert migrate.current(db_url) == migrate.head()


def test_db_upgrade_prints_the_sql_for_a_dba(empty_db_url: str) -> None:
    if empty_db_url.startswith("sqlite"):
        one_line_error(baohan("db", "upgrade", "--sql", "--db", empty_db_url), "PostgreSQL")
        return
    sql = ok("db", "upgrade", "--sql", "--db", empty_db_url)
    assert "CREATE TABLE outbox_messages" in sql and f"'{migrate.head()}'" in sql
    assert tables(empty_db_url) == set()  # printed, not run
    migrate.upgrade(empty_db_url)
    command.downgrade(migrate.alembic_config(empty_db_url), "-1")
    rest = ok("db", "upgrade", "--sql", "--db", empty_db_url)  # from where the database is
    assert "CREATE TABLE outbox_messages" not in rest and f"'{migrate.head()}'" in rest


def test_operator_mistakes_are_one_line(db_url: str) -> None:
    one_line_error(baohan("issuer", "retry", "zzz", "--db", db_url), "no outbox message zzz")
    one_line_error(baohan("serve", "procurement", "--role", "bank", "--db", db_url), "--role")
    ok("platform", "set-identity", "--db", db_url)
    unknown = baohan("platform", "submit", "--institution", "unknown", "--db", db_url, "-", stdin="{}")
    one_line_error(unknown, "--institution 'unknown'")


def test_a_platform_added_under_another_passphrase_is_refused_whole(db_url: str) -> None:
    ok("issuer", "set-identity", "--db", db_url, "--test-ca")
    register = [
        "issuer",
        "add-platform",
        "--db",
        db_url,
        "--name",
        "p",
        "--appid",
        "PASS0001",
        "--appkey",
        "k",
        "--appsecret",
        "s" * 16,
        "--public-key",
        PLATFORM_KEY,
        "--url",
        "http://127.0.0.1:9/x",
    ]
    one_line_error(baohan(*register, BAOHAN_KEY_PASSPHRASE="another passphrase"), "wrong passphrase")
    assert '"appid": "PASS0001"' in ok(*register)  # nothing was saved: the retry registers it
