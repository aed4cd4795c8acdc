"""BouncyCastle 1.72 verifies our SM2-signed PDF guarantees as a Java platform would, and refuses altered ones."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from baohan.adapters.documents.letter import GuaranteeLetter, render_letter_pdf
from baohan.adapters.documents.pdf_signature import sign_pdf, verify_pdf
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from tests.peers import BC_JARS, ROOT, require

pytestmark = pytest.mark.interop


def run_pdf_verify(build_dir: Path, *pdfs: Path) -> list[str]:
    """Compile tests/interop/java/PdfVerify.java against Debian's BouncyCastle and run it on ``pdfs``."""
    javac, java = require("javac"), require("java")
    missing = [str(j) for j in BC_JARS if not j.exists()]
    if missing:
        pytest.fail(f"BouncyCastle jars missing: {missing}; install libbcprov-java libbcpkix-java")
    classpath = ":".join(str(j) for j in BC_JARS)
    source = ROOT / "tests" / "interop" / "java" / "PdfVerify.java"
    subprocess.run([javac, "-d", str(build_dir), "-cp", classpath, str(source)], check=True)
    done = subprocess.run(
        [java, "-cp", f"{build_dir}:{classpath}", "PdfVerify", *map(str, pdfs)],
        check=True,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    return done.stdout.splitlines()


def test_bouncycastle_accepts_our_signed_pdf_and_refuses_a_changed_one(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca("CN=baohan Test CA,O=baohan,C=CN", ca_key, now=now - timedelta(days=1))
    cert = issue_certificate(ca, ca_key, "CN=出函机构,O=baohan,C=CN", key.public_key, now=now)
    letter = GuaranteeLetter(
        guarantee_no="BH-INTEROP-1",
        issuer_name="示例担保有限公司",
        beneficiary_name="示例采购人",
        beneficiary_code="11110000000000000X",
        principal_name="示例供应商有限公司",
        principal_code="91110108MA00000000",
        amount=Decimal("88000.50"),
        valid_from=now,
        valid_to=now + timedelta(days=365),
        issued_at=now,
        project_code="P-1",
        project_name="互通测试项目",
        bid_code="P-1-01",
        bid_name="第一包",
        verification_code="INTEROP1",
    )
    signed = sign_pdf(
        render_letter_pdf(letter), key, cert, chain=[ca], signing_time=now + timedelta(minutes=1)
    )
    assert verify_pdf(signed, [ca]).valid

    changed = bytearray(signed)
    changed[len(signed) // 4] ^= 0x01
    files = {"signed": signed, "changed": bytes(changed), "appended": signed + b"\n"}
    for name, data in files.items():
        (tmp_path / f"{name}.pdf").write_bytes(data)
    lines = run_pdf_verify(tmp_path / "classes", *(tmp_path / f"{name}.pdf" for name in files))

    assert len(lines) == 3, lines
    status, subject, digest_oid, signature_oid = lines[0].split("\t")
    assert status == "ok", lines[0]
    assert "CN=出函机构" in subject
    assert (digest_oid, signature_oid) == ("1.2.156.10197.1.401", "1.2.156.10197.1.501")
    assert lines[1].startswith("fail\t") and "digest" in lines[1], lines[1]
    assert lines[2].startswith("fail\t"), lines[2]
