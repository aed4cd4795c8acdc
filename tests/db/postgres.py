"""A throwaway PostgreSQL 15 cluster for tests: initdb in a temp dir, run on a free loopback port, remove.

The server refuses to run as root, so under root the cluster belongs to and runs as the ``postgres`` OS
user (``runuser``). Durability is switched off (no fsync, no sync at initdb): the data is thrown away.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

PG_BIN = Path(os.environ.get("BAOHAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
NEEDED = ("initdb", "pg_ctl", "postgres", "pg_isready")
SUPERUSER = "postgres"
START_TIMEOUT_S = 30

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "'16MB'",
    "max_connections": "60",
    "max_wal_size": "'256MB'",
    "log_min_messages": "warning",
    "log_statement": "'none'",
}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the cluster could not start."""


def missing_binaries(bin_dir: Path = PG_BIN) -> list[str]:
    """The server programs missing from ``bin_dir`` (empty when a cluster can be started)."""
    return [name for name in NEEDED if not (bin_dir / name).is_file()]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    """``argv`` run as the postgres OS user when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", SUPERUSER, "--", *argv]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no server log: {exc})"


@dataclass
class PostgresCluster:
    """A running throwaway cluster; ``url(dbname)`` gives SQLAlchemy URLs, ``conninfo`` libpq ones."""

    root: Path
    port: int
    bin_dir: Path = PG_BIN
    _stopped: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of ``dbname`` as the superuser (trust auth, loopback only)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string of ``dbname``."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname} connect_timeout=10"

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (a unique name unless given), optionally copied from ``template``; its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(query)
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still connected to it."""
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(query)

    def stop(self) -> None:
        """Stop the server (immediately: the data is thrown away) and delete its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _pg_ctl_stop(self)
        shutil.rmtree(self.root, ignore_errors=True)


def _pg_ctl_stop(cluster: PostgresCluster) -> None:
    if (cluster.datadir / "postmaster.pid").exists():
        subprocess.run(
            _as_server_user(
                [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.datadir), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )


def start_cluster(bin_dir: Path = PG_BIN, *, attempts: int = 3) -> PostgresCluster:
    """Create and start a cluster on a free loopback port; PostgresUnavailable with the log if it fails."""
    missing = missing_binaries(bin_dir)
    if missing:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries missing from {bin_dir}: {', '.join(missing)}; "
            "install postgresql-15 (`make test` does, via scripts/install-peers.sh) or set BAOHAN_PG_BIN"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                "running as root needs a `postgres` OS user to own the cluster"
            ) from None
    root = _server_owned_tempdir()
    cluster = PostgresCluster(root=root, port=0, bin_dir=bin_dir)
    atexit.register(cluster.stop)  # backstop for a test run that dies before its fixture teardown
    try:
        _initdb(cluster)
        for attempt in range(attempts):
            # Another process may grab the port between our probe and the server's bind; try a new one.
            cluster.port = _free_port()
            problem = _start(cluster)
            if problem is None:
                return cluster
            _pg_ctl_stop(cluster)
            if attempt + 1 < attempts and "could not bind" in _tail(cluster.log_path):
                continue
            break
        raise PostgresUnavailable(
            f"PostgreSQL did not start on port {cluster.port}: {problem}\n"
            f"end of the server log {cluster.log_path}:\n{_tail(cluster.log_path)}"
        )
    except BaseException:
        cluster.stop()
        raise


def _server_owned_tempdir() -> Path:
    """A new directory the server user owns and can reach (root's TMPDIR may be closed to others)."""
    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp(prefix="baohan-pg-"))
    tried = []
    for base in dict.fromkeys([tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm"]):
        if not os.path.isdir(base):
            continue
        root = Path(tempfile.mkdtemp(prefix="baohan-pg-", dir=base))
        shutil.chown(root, SUPERUSER, SUPERUSER)
        if subprocess.run(_as_server_user(["test", "-w", str(root)]), check=False).returncode == 0:
            return root
        shutil.rmtree(root, ignore_errors=True)
        tried.append(base)
    raise PostgresUnavailable(f"the {SUPERUSER} OS user cannot write to a temp directory under {tried}")


def _initdb(cluster: PostgresCluster) -> None:
    result = subprocess.run(
        _as_server_user(
            [
                str(cluster.bin_dir / "initdb"),
                "-D",
                str(cluster.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _start(cluster: PostgresCluster) -> str | None:
    """Start the server and wait until it takes connections; None, or what went wrong."""
    settings = {**SERVER_SETTINGS, "port": str(cluster.port)}
    # postgresql.auto.conf is read last and is owned by the server user already; rewriting it keeps owner.
    auto_conf = cluster.datadir / "postgresql.auto.conf"
    auto_conf.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
    pg_ctl = [str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.datadir), "-l", str(cluster.log_path)]
    result = subprocess.run(
        _as_server_user([*pg_ctl, "-w", "-t", str(START_TIMEOUT_S), "start"]),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S + 30,
        check=False,
    )
    if result.returncode != 0:
        return f"pg_ctl start exited {result.returncode}: {result.stdout.strip()} {result.stderr.strip()}"
    # pg_ctl -w waited for the postmaster; make sure it takes TCP connections from us too.
    ready = subprocess.run(
        [str(cluster.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port), "-t", "10"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if ready.returncode != 0:
        return f"pg_isready: {ready.stdout.strip()}"
    try:
        with psycopg.connect(cluster.conninfo()) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect: {exc}"
    return None


@contextlib.contextmanager
def running_cluster(bin_dir: Path = PG_BIN) -> Iterator[PostgresCluster]:
    """A cluster for the duration of the block, always stopped and removed afterwards."""
    cluster = start_cluster(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()
