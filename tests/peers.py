"""Real interop peers as long-running line-protocol processes: BouncyCastle (Java) and sm-crypto (Node).

A missing peer fails the test that needs it, it never skips: `make test` installs every peer.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parent.parent
BC_JARS = [Path("/usr/share/java") / f"{name}.jar" for name in ("bcprov", "bcpkix", "bcutil")]


def missing(message: str) -> NoReturn:
    """Fail the calling test for a peer, tool or sample that is not there (``message`` says which and where
    it comes from): `make test` provides every one, so a test never skips, CI=true or not, and a missing one
    is never mistaken for a pass."""
    pytest.fail(message)


def require(tool: str) -> str:
    """Path of ``tool`` on PATH; the calling test fails (never skips) when it is missing."""
    path = shutil.which(tool)
    if path is None:
        missing(f"interop peer {tool!r} is not installed; `make test` installs it (scripts/install-peers.sh)")
    return path


class LinePeer:
    """A child process answering one tab-separated command per line with ``ok\\t…`` or ``err\\t…``."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self._proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )

    def call(self, *args: str) -> str:
        """Send one command; its result, or AssertionError carrying the peer's error."""
        ok, result = self.try_call(*args)
        assert ok, f"peer refused {args[0]}: {result}"
        return result

    def try_call(self, *args: str) -> tuple[bool, str]:
        """Send one command; (True, result) or (False, error message)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write("\t".join(args) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, f"peer exited (status {self._proc.poll()})"
        status, _, result = line.rstrip("\n").partition("\t")
        return status == "ok", result

    def close(self) -> None:
        """Close stdin and wait for the process to end."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait(timeout=30)


def start_bouncycastle(build_dir: Path) -> LinePeer:
    """Compile tests/interop/java/GmPeer.java against Debian's BouncyCastle jars and start it."""
    javac, java = require("javac"), require("java")
    missing = [str(j) for j in BC_JARS if not j.exists()]
    if missing:
        pytest.fail(f"BouncyCastle jars missing: {missing}; install libbcprov-java libbcpkix-java")
    classpath = ":".join(str(j) for j in BC_JARS)
    source = ROOT / "tests" / "interop" / "java" / "GmPeer.java"
    subprocess.run([javac, "-d", str(build_dir), "-cp", classpath, str(source)], check=True)
    return LinePeer([java, "-cp", f"{build_dir}:{classpath}", "GmPeer"], cwd=build_dir)


def start_sm_crypto() -> LinePeer:
    """Start tests/interop/node/peer.js with the pinned sm-crypto."""
    node = require("node")
    node_dir = ROOT / "tests" / "interop" / "node"
    if not (node_dir / "node_modules" / "sm-crypto").is_dir():
        pytest.fail("sm-crypto is not installed; run `npm ci --prefix tests/interop/node` (make test does)")
    return LinePeer([node, "peer.js"], cwd=node_dir)
