"""`baohan demo procurement`, the main job: every transcode crosses the wire, the letter verifies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from baohan.adapters.documents.pdf_signature import verify_pdf
from baohan.gm import SM2Certificate


def test_the_demo_runs_every_transcode_and_leaves_a_signed_letter(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", "demo", "procurement", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "claim of 50000.00 paid on first demand" in result.stdout
    lines = [json.loads(line) for line in (out / "transcript.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {line["transcode"] for line in lines} == {f"ELY10{i}" for i in range(1, 10)}
    assert all(line["answer"]["code"] == "000" for line in lines)
    assert all(line["path"] == "/zcdservice/v1/lg/ELYApi" for line in lines)  # the one endpoint
    assert all(
        set(line["request"]) == {"transcode", "msgcode", "appid", "reqtime", "version", "data", "sign"}
        for line in lines
    )
    [pdf] = out.glob("*.pdf")
    check = verify_pdf(pdf.read_bytes(), [SM2Certificate.load((out / "ca.pem").read_text())])
    assert check.valid and check.signer is not None and "示范担保" in check.signer.subject_cn
