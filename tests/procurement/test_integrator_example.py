"""The README's worked ELY101 is true by construction: docs/examples/ely101.sh, printed verbatim in both
READMEs, runs step by step (JSON, SM2, Base64, sign, curl) against a real sandbox on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.procurement.harness import free_port, wait_for
from tests.procurement.test_sandbox import start

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "examples" / "ely101.sh"


def test_both_readmes_print_the_script_that_is_run() -> None:
    script = SCRIPT.read_text(encoding="utf-8")
    for readme in ("README.md", "README.zh-CN.md"):
        assert f"```sh\n{script}```" in (ROOT / readme).read_text(encoding="utf-8"), readme


def test_the_worked_ely101_is_answered_000_and_its_notice_arrives(tmp_path: Path) -> None:
    port = free_port()
    proc, info = start("--role", "issuer", "--port", str(port))
    try:
        line = tmp_path / "sandbox.json"
        line.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # baohan, python3
            "PYTHONPATH": str(ROOT / "src"),
        }
        run = subprocess.run(
            ["bash", str(SCRIPT), str(line)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        # The documented answer: exactly the code and the spec's message, nothing encrypted.
        assert json.loads(run.stdout) == {"code": "000", "message": "成功"}
        auth = {"Authorization": f"Bearer {info['admin_token']}"}
        application = httpx.get(f"{info['admin_url']}/applications/DOC-ELY101-0001", headers=auth)
        assert application.status_code == 200, application.text
        assert application.json()["stage"] == "approved"

        def notices() -> list[dict[str, Any]]:
            reply = httpx.get(info["received_url"], params={"id": "DOC-ELY101-0001"}, headers=auth)
            return list(reply.json())

        [notice] = wait_for(notices, "the ELY102 the worked example causes")
        assert notice["data"] == {"applicationId": "DOC-ELY101-0001", "applicationStatus": "01"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
