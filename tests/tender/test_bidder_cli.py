"""``baohan bidder open`` and ``sign``: round trips with the bidder's own key, and operator mistakes as
one ``error:`` line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baohan.protocols.tender.agreement import render_agreement, verify_agreement_signature
from tests.cli.test_cli_errors import baohan, one_line_error
from tests.tender.bidder_kit import INSTITUTION, Bidder, SealedApplication, make_bidder, seal_application


@pytest.fixture(scope="module")
def bidder() -> Bidder:
    return make_bidder()


@pytest.fixture
def files(bidder: Bidder, tmp_path: Path) -> dict[str, Path | SealedApplication]:
    sealed = seal_application(bidder)
    paths = {
        "applydata": tmp_path / "applydata.txt",
        "envelope": tmp_path / "envelope.txt",
        "key": tmp_path / "bidder-key.pem",
        "sec1": tmp_path / "bidder-key-sec1.pem",
        "agreement": tmp_path / "agreement.txt",
    }
    paths["applydata"].write_text(sealed.applydata + "\n")
    paths["envelope"].write_text(sealed.digitalenvelope)
    paths["key"].write_text(bidder.key.to_pem())
    paths["sec1"].write_text(bidder.key.to_pem("sec1"))
    fields = {name: str(value) for name, value in sealed.application.items()}
    paths["agreement"].write_bytes(render_agreement(sealed.applyno, fields, INSTITUTION))
    return {**paths, "sealed": sealed}


def _open(files, envelope: str | None = None, key: str = "key"):
    return baohan(
        "bidder", "open", "--applydata", str(files["applydata"]),
        "--envelope", envelope or str(files["envelope"]), "--key", str(files[key]),
    )  # fmt: skip


@pytest.mark.parametrize("key", ["key", "sec1"])
def test_open_prints_k_then_the_application_with_project_fields_sealed(files, key: str) -> None:
    result = _open(files, key=key)
    assert result.returncode == 0, result.stderr
    first, _, rest = result.stdout.partition("\n")
    sealed = files["sealed"]
    assert first == sealed.key.hex()
    application = json.loads(rest)
    assert application["biddername"] == "投标人甲建设有限公司"
    assert application["biaoduanno"] == sealed.application["biaoduanno"]


def test_open_takes_the_envelope_as_text_too(files) -> None:
    result = _open(files, envelope=files["sealed"].digitalenvelope)
    assert result.returncode == 0 and result.stdout.startswith(files["sealed"].key.hex())


def test_sign_prints_a_signature_the_institution_accepts(bidder: Bidder, files) -> None:
    result = baohan("bidder", "sign", "--agreement", str(files["agreement"]), "--key", str(files["key"]))
    assert result.returncode == 0, result.stderr
    text = files["agreement"].read_bytes()
    certificate = bidder.certificate.to_pem()
    assert (
        verify_agreement_signature(text, certificate, result.stdout.strip(), trusted=[bidder.ca])
        == bidder.certificate
    )


def test_sign_writes_to_out(bidder: Bidder, files, tmp_path: Path) -> None:
    out = tmp_path / "agreement.sig"
    args = (
        "bidder",
        "sign",
        "--agreement",
        str(files["agreement"]),
        "--key",
        str(files["key"]),
        "--out",
        str(out),
    )
    result = baohan(*args)
    assert result.returncode == 0 and result.stdout == ""
    verify_agreement_signature(files["agreement"].read_bytes(), bidder.certificate.to_pem(), out.read_text())


def test_open_mistakes_are_one_line(files, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_text(make_bidder("投标人乙").key.to_pem())
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    files_with = {**files, "stranger": stranger, "garbage": garbage}
    missing = str(tmp_path / "nowhere.txt")
    one_line_error(_open({**files, "applydata": Path(missing)}), "--applydata", "cannot read", "nowhere.txt")
    one_line_error(_open({**files, "key": Path(missing)}), "--key", "cannot read")
    one_line_error(_open(files_with, key="garbage"), "--key", "garbage.pem")
    one_line_error(_open(files_with, key="stranger"), "--envelope", "digitalenvelope")
    one_line_error(_open(files, envelope="@@not base64@@"), "--envelope", "digitalenvelope")
    files["applydata"].write_text("***")
    one_line_error(_open(files), "--applydata", "applydata: is not Base64")


def test_open_with_applydata_of_another_application_is_refused(bidder: Bidder, files) -> None:
    files["applydata"].write_text(seal_application(bidder).applydata)
    one_line_error(_open(files), "--applydata", "key: does not open applydata")


def test_sign_mistakes_are_one_line(files, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    key = str(files["key"])
    one_line_error(
        baohan("bidder", "sign", "--agreement", str(tmp_path / "no.txt"), "--key", key), "--agreement"
    )
    one_line_error(baohan("bidder", "sign", "--agreement", str(empty), "--key", key), "--agreement", "empty")
    one_line_error(
        baohan("bidder", "sign", "--agreement", str(files["agreement"]), "--key", str(empty)), "private key"
    )
    out = str(tmp_path / "no-such-dir" / "sig")
    args = ("bidder", "sign", "--agreement", str(files["agreement"]), "--key", key, "--out", out)
    one_line_error(baohan(*args), "--out", "cannot write")
