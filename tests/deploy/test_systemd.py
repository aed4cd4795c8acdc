"""deploy/: the systemd units pass `systemd-analyze verify`, and the environment-file example starts the
very commands the units run."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.services.procurement.runtime import open_runtime
from tests.peers import require
from tests.procurement.harness import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALLED = "/opt/baohan/venv/bin/baohan"  # where docs/deploy.md installs the console script


def systemd_analyze() -> str:
    """systemd-analyze; a missing one fails the test (scripts/install-peers.sh installs it)."""
    return require("systemd-analyze")


def environment_example() -> dict[str, str]:
    """deploy/baohan.env.example as systemd's EnvironmentFile= reads it."""
    values = {}
    for line in (ROOT / "deploy" / "baohan.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def exec_start(unit: Path, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart= with ${VAR} expanded from ``env``, run by this checkout's Python."""
    [line] = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    argv = shlex.split(re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line.removeprefix("ExecStart=")))
    assert argv[0] == INSTALLED
    return [sys.executable, "-m", "baohan.cli.main", *argv[1:]]


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    assert [u.name for u in UNITS] == ["baohan-dispatch.service", "baohan-server.service"]
    # verify checks that ExecStart's program exists: point it at this checkout's console script.
    program = shutil.which("baohan") or str(Path(sys.executable).with_name("baohan"))
    assert Path(program).exists(), program
    copies = []
    for unit in UNITS:
        text = unit.read_text()
        assert INSTALLED in text and "EnvironmentFile=/etc/baohan/baohan.env" in text
        copy = tmp_path / unit.name
        copy.write_text(text.replace(INSTALLED, program))
        copies.append(str(copy))
    result = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr.strip()) == (0, ""), result.stderr
    # Unknown or misspelt settings are only warned about: a bad one shows here.
    broken = tmp_path / "broken.service"
    broken.write_text(Path(copies[0]).read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    warned = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60)
    assert "Unknown key" in warned.stderr


def test_the_environment_example_starts_the_server_and_the_dispatcher(tmp_path: Path) -> None:
    env = environment_example()
    assert {"BAOHAN_ROLE", "BAOHAN_DB", "BAOHAN_KEY_PASSPHRASE", "BAOHAN_ADMIN_TOKEN"} <= env.keys()
    port, admin_port, metrics_port = free_port(), free_port(), free_port()
    db = f"sqlite:///{tmp_path}/baohan.db"
    env.update(
        BAOHAN_DB=db,
        BAOHAN_HOST="127.0.0.1",
        BAOHAN_PORT=str(port),
        BAOHAN_ADMIN_PORT=str(admin_port),
        BAOHAN_METRICS_PORT=str(metrics_port),
    )
    runtime = open_runtime(env["BAOHAN_ROLE"], db, SecretBox(env["BAOHAN_KEY_PASSPHRASE"]))
    runtime.registry.add_identity("default", SM2PrivateKey.generate())
    runtime.stop()
    # The processes run in another directory: the import path this test runs with, made absolute.
    path = os.pathsep.join(
        str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    )
    process_env = {"PATH": os.environ["PATH"], "PYTHONPATH": path, **env}
    units = {unit.name: unit for unit in UNITS}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        exec_start(units["baohan-server.service"], env), env=process_env, stdout=log, stderr=log, cwd=tmp_path
    )
    try:
        wait_for(lambda: _status(f"http://127.0.0.1:{admin_port}/ready") == 200, "the server ready", 60)
        assert _status(f"http://127.0.0.1:{port}/health") == 200
        assert _status(f"http://127.0.0.1:{port}/admin/applications") == 404
        auth = {"Authorization": f"Bearer {env['BAOHAN_ADMIN_TOKEN']}"}
        listed = httpx.get(f"http://127.0.0.1:{admin_port}/admin/applications", headers=auth, timeout=10)
        assert listed.status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        log.close()
    # uvicorn ends by re-raising the SIGTERM it handled; systemd counts that as a clean stop.
    assert code in (0, -signal.SIGTERM), (tmp_path / "server.log").read_text()
    assert "Application shutdown complete." in (tmp_path / "server.log").read_text()

    dispatch = subprocess.Popen(
        exec_start(units["baohan-dispatch.service"], env),
        env=process_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        wait_for(
            lambda: _status(f"http://127.0.0.1:{metrics_port}/metrics") == 200,
            "the dispatcher's /metrics",
            60,
        )
    finally:
        dispatch.send_signal(signal.SIGTERM)
        assert dispatch.wait(timeout=60) == 0
    assert "dispatcher stopped" in (dispatch.stderr.read() if dispatch.stderr else "")


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return None
