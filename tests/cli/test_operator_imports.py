"""The operator commands load the services, not the web framework (a fresh interpreter tells)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import baohan

SRC = str(Path(baohan.__file__).resolve().parents[1])


@pytest.mark.parametrize(
    "module",
    [
        "baohan.cli.procurement",
        "baohan.cli.gm",
        "baohan.cli.main",
        "baohan.cli.operators",
        "baohan.cli.bidder",
    ],
)
def test_operator_commands_do_not_import_fastapi(module: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    probe = f"import sys, {module}; print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_probe_sees_fastapi_when_it_is_loaded() -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    probe = "import sys, baohan.web.procurement; print('fastapi' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.stdout.strip() == "True", result.stderr
