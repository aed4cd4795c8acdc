"""A sandbox's one JSON line: printed once it is ready, then it runs until SIGINT or SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer


def announce_and_wait(line: dict[str, Any], workdir: Path) -> None:
    """Print ``line`` as one JSON line on stdout and block until the process is told to stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the line: whoever reads it may stop us at once
        signal.signal(sig, lambda *_: stop.set())
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    typer.echo(f"sandbox: its files are in {workdir} (removed when it stops)", err=True)
    stop.wait()
