"""What every protocol's sandbox shares: its options, their checks, its throwaway workspace and key store,
its servers, and the one JSON line it prints once ready before running until SIGINT or SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from baohan.adapters.keystore import PASSPHRASE_ENV, SecretBox
from baohan.cli.inputs import CLIError
from baohan.web.serving import BackgroundServer

RECEIVED = "/admin/sandbox/received"  # the calls a sandbox sent, listed on its admin listener

Role = Annotated[str, typer.Option(help="Which role the sandbox plays: issuer or platform.")]
Port = Annotated[int, typer.Option(help="Port on 127.0.0.1 for the role's endpoints.", min=1, max=65535)]
AdminPort = Annotated[
    int | None,
    typer.Option(
        help="Port on 127.0.0.1 for the admin API and the received listing; --port + 1 by default.",
        min=1,
        max=65535,
    ),
]
Db = Annotated[str | None, typer.Option(help="Database URL; a temporary SQLite file by default.")]


def admin_port_for(port: int, admin_port: int | None) -> int:
    """The admin listener's port: ``admin_port``, or ``port`` + 1; CLIError when it cannot be."""
    admin_port = admin_port or port + 1
    if admin_port > 65535 or admin_port == port:
        raise CLIError(f"--admin-port {admin_port} must differ from --port and be at most 65535")
    return admin_port


def check_token(admin_token: str | None) -> None:
    """CLIError for an admin token given empty (none given: the sandbox makes one)."""
    if admin_token is not None and not admin_token.strip():
        raise CLIError("--admin-token (BAOHAN_ADMIN_TOKEN) is empty")


@contextmanager
def workspace() -> Iterator[Path]:
    """A temporary directory for the sandbox's files, removed when it stops."""
    workdir = Path(tempfile.mkdtemp(prefix="baohan-sandbox-"))
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def database(db: str | None, workdir: Path) -> str:
    """``db``, or a SQLite file in ``workdir``."""
    return db or f"sqlite:///{workdir}/sandbox.db"


def key_store() -> SecretBox:
    """The key store: a sandbox is throwaway, so with no passphrase set it seals under a random one."""
    return SecretBox(os.environ.get(PASSPHRASE_ENV) or secrets.token_urlsafe(24))


def serve(app: Any, port: int, admin_port: int | None = None) -> BackgroundServer:
    """``app`` served on 127.0.0.1 (and its admin side on ``admin_port``); CLIError when it cannot listen."""
    try:
        return BackgroundServer(app, port, admin_port=admin_port)
    except RuntimeError as exc:
        raise CLIError(str(exc)) from None


def announce_and_wait(line: dict[str, Any], workdir: Path) -> None:
    """Print ``line`` as one JSON line on stdout and block until the process is told to stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the line: whoever reads it may stop us at once
        signal.signal(sig, lambda *_: stop.set())
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    typer.echo(f"sandbox: its files are in {workdir} (removed when it stops)", err=True)
    stop.wait()
