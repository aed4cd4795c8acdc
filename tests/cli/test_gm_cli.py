"""The `baohan gm` contract, run as a user runs it: a real process, stdin, stdout, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from baohan.gm import SM2Certificate, SM2PrivateKey, SM2PublicKey, sm4_encrypt


def baohan(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess[str]:
    data = stdin.decode() if isinstance(stdin, bytes) else stdin
    return subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *args],
        input=data,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(*args: str, stdin: str | None = None) -> str:
    result = baohan(*args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


def test_keygen_plain_and_json() -> None:
    lines = dict(line.split("=", 1) for line in ok("gm", "keygen").split())
    key = SM2PrivateKey.load(lines["private_key"])
    assert key.public_key.to_hex() == lines["public_key"] and lines["public_key"].startswith("04")
    pair = json.loads(ok("gm", "keygen", "--json"))
    assert SM2PrivateKey.load(pair["private_key"]).public_key.to_hex() == pair["public_key"]


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--layout", "c1c2c3"],
        ["--layout", "asn1"],
        ["--no-prefix"],
        ["--layout", "c1c2c3", "--no-prefix"],
    ],
)
def test_encrypt_then_decrypt_auto(key: SM2PrivateKey, flags: list[str]) -> None:
    ct = ok("gm", "sm2-encrypt", "--public-key", key.public_key.to_hex(), *flags, "履约保函 ELY101").strip()
    assert ok("gm", "sm2-decrypt", "--private-key", key.to_hex(), ct).strip() == "履约保函 ELY101"
    assert key.decrypt(__import__("base64").b64decode(ct)) == "履约保函 ELY101".encode()


def test_encrypt_hex_out_and_stdin(key: SM2PrivateKey) -> None:
    ct = ok(
        "gm", "sm2-encrypt", "--public-key", key.public_key.to_hex(), "--out", "hex", "-", stdin="from stdin"
    )
    assert key.decrypt(bytes.fromhex(ct.strip())) == b"from stdin"
    plain = ok(
        "gm", "sm2-decrypt", "--private-key", key.to_hex(), "--in", "hex", "--layout", "c1c3c2", stdin=ct
    )
    assert plain.strip() == "from stdin"


def test_keys_from_pem_files(key: SM2PrivateKey, tmp_path: Path) -> None:
    (tmp_path / "k.pem").write_text(key.to_pem())
    (tmp_path / "p.pem").write_text(key.public_key.to_pem())
    ct = ok("gm", "sm2-encrypt", "--public-key", str(tmp_path / "p.pem"), "x").strip()
    assert ok("gm", "sm2-decrypt", "--private-key", str(tmp_path / "k.pem"), ct).strip() == "x"


def test_sign_and_verify(key: SM2PrivateKey) -> None:
    sig = ok("gm", "sm2-sign", "--private-key", key.to_hex(), "message").strip()
    assert key.public_key.verify(b"message", __import__("base64").b64decode(sig))
    good = baohan("gm", "sm2-verify", "--public-key", key.public_key.to_hex(), "--signature", sig, "message")
    assert (good.returncode, good.stdout.strip()) == (0, "valid")
    bad = baohan("gm", "sm2-verify", "--public-key", key.public_key.to_hex(), "--signature", sig, "messagE")
    assert (bad.returncode, bad.stdout.strip()) == (1, "invalid")


def test_sign_raw_with_uid(key: SM2PrivateKey) -> None:
    sig = ok("gm", "sm2-sign", "--private-key", key.to_hex(), "--raw", "--uid", "ALICE", "m").strip()
    raw = __import__("base64").b64decode(sig)
    assert len(raw) == 64 and key.public_key.verify(b"m", raw, uid="ALICE")
    result = baohan(
        "gm",
        "sm2-verify",
        "--public-key",
        key.public_key.to_hex(),
        "--signature",
        raw.hex(),
        "--uid",
        "ALICE",
        "m",
    )
    assert result.stdout.strip() == "valid"


def test_sm3_and_hmac() -> None:
    assert (
        ok("gm", "sm3", "abc").strip() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert ok("gm", "sm3", "--in", "hex", "616263").strip() == ok("gm", "sm3", "-", stdin="abc").strip()
    mac = ok("gm", "sm3", "--hmac-key", "secret", "abc").strip()
    from baohan.gm import hmac_sm3

    assert mac == hmac_sm3(b"secret", b"abc").hex()


def test_sm4_both_modes() -> None:
    key = "0123456789abcdeffedcba9876543210"
    out = ok("gm", "sm4-encrypt", "--key", key, "--in", "hex", "--no-padding", "--out", "hex", key).strip()
    assert out == "681edf34d206965e86b3e94f536e4246"
    iv = "00" * 16
    ct = ok("gm", "sm4-encrypt", "--key", key, "--mode", "cbc", "--iv", iv, "投标保函").strip()
    assert ok("gm", "sm4-decrypt", "--key", key, "--mode", "cbc", "--iv", iv, ct).strip() == "投标保函"


def test_envelope_seal_pipes_into_open(key: SM2PrivateKey) -> None:
    sealed = ok("gm", "envelope-seal", "--public-key", key.public_key.to_hex(), '{"applicationId":"A1"}')
    obj = json.loads(sealed)
    assert set(obj) == {"data", "sign"}
    assert (
        ok("gm", "envelope-open", "--private-key", key.to_hex(), "-", stdin=sealed).strip()
        == '{"applicationId":"A1"}'
    )
    alone = ok("gm", "envelope-open", "--private-key", key.to_hex(), "--sign", obj["sign"], obj["data"])
    assert alone.strip() == '{"applicationId":"A1"}'


def test_envelope_cbc(key: SM2PrivateKey) -> None:
    sealed = ok("gm", "envelope-seal", "--public-key", key.public_key.to_hex(), "--sm4-mode", "cbc", "p")
    assert (
        ok("gm", "envelope-open", "--private-key", key.to_hex(), "--sm4-mode", "cbc", sealed.strip()).strip()
        == "p"
    )


def test_cert_make_ca_issue_show_verify(tmp_path: Path) -> None:
    ca, ca_key = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    ok(
        "gm",
        "cert",
        "make-ca",
        "--subject",
        "CN=Test CA,O=baohan,C=CN",
        "--out-cert",
        str(ca),
        "--out-key",
        str(ca_key),
    )
    assert ca_key.stat().st_mode & 0o777 == 0o600
    leaf, leaf_key = tmp_path / "leaf.pem", tmp_path / "leaf-key.pem"
    ok(
        "gm",
        "cert",
        "issue",
        "--ca-cert",
        str(ca),
        "--ca-key",
        str(ca_key),
        "--subject",
        "CN=投标人甲",
        "--out-cert",
        str(leaf),
        "--out-key",
        str(leaf_key),
    )
    cert = SM2Certificate.load(leaf.read_text())
    cert.verify_issued_by(SM2Certificate.load(ca.read_text()))
    assert cert.public_key == SM2PrivateKey.load(leaf_key.read_text()).public_key
    shown = json.loads(ok("gm", "cert", "show", "--json", str(leaf)))
    assert shown["subject_cn"] == "投标人甲" and shown["issuer_cn"] == "Test CA"
    assert shown["serial"] == format(cert.serial_number, "X")
    assert "subject_cn" in ok("gm", "cert", "show", str(leaf))
    assert ok("gm", "cert", "verify", str(leaf), "--ca-cert", str(ca)).strip() == "valid"
    other = tmp_path / "other.pem"
    other.write_text(ok("gm", "cert", "make-ca", "--subject", "CN=Other"))
    bad = baohan("gm", "cert", "verify", str(leaf), "--ca-cert", str(other))
    assert bad.returncode == 1 and bad.stdout.startswith("invalid:")


def test_cert_issue_for_a_given_public_key_prints_no_private_key(tmp_path: Path) -> None:
    printed = ok("gm", "cert", "make-ca", "--subject", "CN=CA2")
    (tmp_path / "ca.pem").write_text(
        printed.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    )
    ca_key = SM2PrivateKey.load(printed.split("-----END CERTIFICATE-----")[1])
    pub = SM2PrivateKey.generate().public_key
    out = ok(
        "gm",
        "cert",
        "issue",
        "--ca-cert",
        str(tmp_path / "ca.pem"),
        "--ca-key",
        ca_key.to_hex(),
        "--subject",
        "CN=x",
        "--public-key",
        pub.to_hex(),
    )
    assert "PRIVATE KEY" not in out
    assert SM2PublicKey.load(out) == pub


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["gm", "sm2-decrypt", "--private-key", "00", "AAAA"], ["private key", "out of range"]),
        (["gm", "sm2-decrypt", "--private-key", "zz!", "AAAA"], ["private key"]),
        (["gm", "sm2-encrypt", "--public-key", "0400", "x"], ["public key"]),
        (["gm", "sm2-decrypt", "--private-key", "01", "--layout", "c9", "AA"], ["--layout", "c9"]),
        (["gm", "sm2-encrypt", "--public-key", "04", "--out", "pdf", "x"], ["--out"]),
        (["gm", "sm2-decrypt", "--private-key", "01", "--in", "hex", "xyz"], ["ciphertext", "hex"]),
        (["gm", "sm2-decrypt", "--private-key", "01", "AAAA"], ["SM2 ciphertext"]),
        (["gm", "sm4-decrypt", "--key", "00", "AAAA"], ["16 bytes"]),
        (["gm", "sm4-encrypt", "--key", "00" * 16, "--mode", "cbc", "x"], ["--iv"]),
        (["gm", "envelope-open", "--private-key", "01", "not json"], ["JSON"]),
        (["gm", "cert", "show", "/nonexistent/cert.pem"], ["certificate"]),
        (["gm", "cert", "make-ca", "--subject", "O=no cn"], ["CN"]),
        (["gm", "sm2-sign"], ["--private-key"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: list[str]) -> None:
    assert_one_line_error(baohan(*args), *words)


def test_wrong_key_decrypt_is_one_line_error(key: SM2PrivateKey) -> None:
    ct = ok("gm", "sm2-encrypt", "--public-key", key.public_key.to_hex(), "x").strip()
    assert_one_line_error(
        baohan("gm", "sm2-decrypt", "--private-key", SM2PrivateKey.generate().to_hex(), ct), "C3"
    )


def test_wrong_sm4_key_is_one_line_error() -> None:
    ct = sm4_encrypt(bytes(16), b"payload" * 5).hex()
    result = baohan("gm", "sm4-decrypt", "--key", "11" * 16, "--in", "hex", ct)
    assert_one_line_error(result, "padding")


def test_binary_plaintext_suggests_hex_output(key: SM2PrivateKey) -> None:
    ct = key.public_key.encrypt(b"\xff\xfe\x00").hex()
    assert_one_line_error(baohan("gm", "sm2-decrypt", "--private-key", key.to_hex(), ct), "--out hex")
    assert ok("gm", "sm2-decrypt", "--private-key", key.to_hex(), "--out", "hex", ct).strip() == "fffe00"
