"""bench/tender_files.py end to end on a 3 MB file, so that the benchmark cannot rot (its figures are not
gated here: the test machine's load says nothing about the code)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.peers import ROOT


def test_file_benchmark_runs_end_to_end() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tender_files.py"), "--size-mb", "3", "--report-only"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "3.0 MB in 3 slices of 1048576 bytes" in out
    assert re.search(r"raw SM4-CBC, one thread +\d+\.\d MB/s", out)
    assert re.search(r"end to end over loopback HTTP +\d+\.\d MB/s +\(\d+% of raw SM4-CBC\)", out)
    assert re.search(r"peak \d+\.\d MB, at ready \d+\.\d MB, growth -?\d+\.\d MB", out)
    assert len(re.findall(r"^(PASS|FAIL)  ", out, re.MULTILINE)) == 3
