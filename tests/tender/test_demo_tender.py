"""`baohan demo tender`, the main job's tender half: every tender interface crosses the wire between our
platform and our issuer, and the guarantees it leaves verify."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from baohan.adapters.documents.ofd import read_attachments, verify_ofd
from baohan.adapters.documents.tender_guarantee import SEALED_FILE
from baohan.cli import demo_tender
from baohan.gm import SM2Certificate
from baohan.protocols.tender.tables import INTERFACES
from baohan.web.bidder import SM_CRYPTO_ENV, sm_crypto_dir
from tests.cli.test_cli_errors import baohan, one_line_error


def _demo(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", "demo", "tender", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, SM_CRYPTO_ENV: str(sm_crypto_dir()), **env},
    )


@pytest.fixture(scope="module")
def toured(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo") / "tender"
    return _demo(out), out


def test_the_tour_crosses_every_interface_answered_code_1(
    toured: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = toured
    assert result.returncode == 0, result.stderr
    lines: list[dict[str, Any]] = [
        json.loads(line) for line in (out / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {line["interface"] for line in lines} == set(INTERFACES)
    assert all(line["path"] == f"/tender/{line['interface']}" for line in lines)
    assert all(line["answer"]["code"] == 1 for line in lines), [x for x in lines if x["answer"]["code"] != 1]
    # Each request as sent: signed, stamped, and to the side that serves the interface.
    assert all({"appkey", "timestamp", "sign"} <= set(line["request"]) for line in lines)
    assert all(line["to"] == INTERFACES[line["interface"]].served_by for line in lines)
    uploads = [line for line in lines if line["interface"] == "uploadbaohanfile"]
    assert {line["request"]["filetype"] for line in uploads} == {"1", "2"}
    assert max(int(line["request"]["index"]) for line in uploads) >= 2, "the OFDs go up in several slices"

    report = (out / "report.txt").read_text(encoding="utf-8")
    assert report == result.stdout
    for interface in INTERFACES:
        assert f" {interface} " in report, interface
    assert "80000.00 paid on first demand" in report and "embeds the sealed one byte for byte" in report


def test_the_guarantees_verify_and_the_plain_one_carries_the_sealed_one(
    toured: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = toured
    assert result.returncode == 0, result.stderr
    ca = SM2Certificate.load((out / "ca-certificate.pem").read_text())
    sealed, plain = (out / "guarantee-sealed.ofd").read_bytes(), (out / "guarantee-plain.ofd").read_bytes()
    for ofd in (sealed, plain):
        check = verify_ofd(ofd, trusted=[ca])
        assert check.valid, check.reason
        assert all(s.signer is not None and "示范担保" in s.signer.subject_cn for s in check.signatures)
    assert [a.data for a in read_attachments(plain) if a.file_name == SEALED_FILE] == [sealed]
    assert sealed != plain
    assert (out / "invoice.pdf").read_bytes().startswith(b"%PDF")


def test_without_sm_crypto_the_demo_says_so_in_one_line_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    refused = baohan("demo", "tender", "--out", str(out), **{SM_CRYPTO_ENV: str(tmp_path / "nowhere")})
    one_line_error(refused, "sm-crypto", "install-browser-js.sh")
    assert not out.exists()


def test_a_step_that_fails_ends_the_demo_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(demo_tender.SECTION, "biaoduanno", "")  # the platform refuses such a section
    refused = baohan("demo", "tender", "--out", str(tmp_path), **{SM_CRYPTO_ENV: str(sm_crypto_dir())})
    one_line_error(refused, "POST /sections answered 422", "biaoduanno")
    assert not (tmp_path / "report.txt").exists() and (tmp_path / "transcript.jsonl").exists()
