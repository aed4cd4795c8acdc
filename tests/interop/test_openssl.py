"""OpenSSL 3 CLI as a peer: ASN.1 SM2 ciphertexts, SM3withSM2 signatures, PEM keys and SM2 certificates, both ways."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from baohan.gm import (
    Layout,
    SM2Certificate,
    SM2PrivateKey,
    SM2PublicKey,
    hmac_sm3,
    issue_certificate,
    make_ca,
    sm3,
    sm4_encrypt,
)
from tests.peers import require

pytestmark = pytest.mark.interop
UID = "1234567812345678"
MESSAGE = '{"applicationId":"A-2026-0001","performanceBond":"125000.00","备注":"履约保函"}'.encode()


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run([require("openssl"), *args], input=stdin, capture_output=True, check=True).stdout


@pytest.fixture
def openssl_key(tmp_path: Path) -> tuple[Path, Path]:
    key, pub = tmp_path / "key.pem", tmp_path / "pub.pem"
    openssl("genpkey", "-algorithm", "SM2", "-out", str(key))
    openssl("pkey", "-in", str(key), "-pubout", "-out", str(pub))
    return key, pub


def test_openssl_pem_keys_load(openssl_key: tuple[Path, Path], tmp_path: Path) -> None:
    key_pem, pub_pem = openssl_key
    key = SM2PrivateKey.load(key_pem.read_bytes())
    assert SM2PublicKey.load(pub_pem.read_text()) == key.public_key
    sec1 = tmp_path / "sec1.pem"
    openssl("ec", "-in", str(key_pem), "-out", str(sec1))
    assert b"BEGIN SM2 PRIVATE KEY" in sec1.read_bytes()  # OpenSSL 3's label for SEC1 SM2 keys
    assert SM2PrivateKey.load(sec1.read_bytes()) == key
    text = openssl("pkey", "-in", str(key_pem), "-noout", "-text").decode()
    priv_hex = "".join(text.split("priv:")[1].split("pub:")[0].split()).replace(":", "")
    assert int(priv_hex, 16) == int(key.to_hex(), 16)


def test_our_pem_keys_load_in_openssl(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    for fmt in ("pkcs8", "sec1"):
        path = tmp_path / f"{fmt}.pem"
        path.write_text(key.to_pem(fmt))  # type: ignore[arg-type]
        pub = openssl("pkey", "-in", str(path), "-pubout").decode()
        assert SM2PublicKey.load(pub) == key.public_key
    pub_path = tmp_path / "pub.pem"
    pub_path.write_text(key.public_key.to_pem())
    assert b"ASN1 OID: SM2" in openssl("pkey", "-pubin", "-in", str(pub_path), "-noout", "-text")


def test_openssl_ciphertext_decrypts_with_ours(openssl_key: tuple[Path, Path], tmp_path: Path) -> None:
    key_pem, pub_pem = openssl_key
    for size in (1, 200, 2048, 65536):
        plain = (MESSAGE * (size // len(MESSAGE) + 1))[:size]
        src = tmp_path / "plain.bin"
        src.write_bytes(plain)
        ct = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_pem), "-in", str(src))
        key = SM2PrivateKey.load(key_pem.read_bytes())
        assert key.decrypt(ct) == plain
        assert key.decrypt(ct, layout=Layout.ASN1) == plain


def test_our_asn1_ciphertext_decrypts_with_openssl(openssl_key: tuple[Path, Path], tmp_path: Path) -> None:
    key_pem, pub_pem = openssl_key
    pub = SM2PublicKey.load(pub_pem.read_bytes())
    for size in (1, 200, 2048, 65536):
        plain = (MESSAGE * (size // len(MESSAGE) + 1))[:size]
        ct_path = tmp_path / "ct.der"
        ct_path.write_bytes(pub.encrypt(plain, layout=Layout.ASN1))
        assert openssl("pkeyutl", "-decrypt", "-inkey", str(key_pem), "-in", str(ct_path)) == plain


def test_openssl_refuses_our_ciphertext_for_another_key(
    openssl_key: tuple[Path, Path], tmp_path: Path
) -> None:
    key_pem, _ = openssl_key
    ct_path = tmp_path / "ct.der"
    ct_path.write_bytes(SM2PrivateKey.generate().public_key.encrypt(MESSAGE, layout=Layout.ASN1))
    with pytest.raises(subprocess.CalledProcessError):
        openssl("pkeyutl", "-decrypt", "-inkey", str(key_pem), "-in", str(ct_path))


def test_openssl_signature_verifies_with_ours(openssl_key: tuple[Path, Path], tmp_path: Path) -> None:
    key_pem, pub_pem = openssl_key
    msg = tmp_path / "msg"
    msg.write_bytes(MESSAGE)
    sig = openssl("dgst", "-sm3", "-sign", str(key_pem), "-sigopt", f"distid:{UID}", str(msg))
    pub = SM2PublicKey.load(pub_pem.read_bytes())
    assert pub.verify(MESSAGE, sig, uid=UID)
    assert not pub.verify(MESSAGE, sig, uid="another id")
    assert not pub.verify(MESSAGE + b" ", sig, uid=UID)


def test_our_signature_verifies_with_openssl(tmp_path: Path) -> None:
    key = SM2PrivateKey.generate()
    pub, msg, sig = tmp_path / "pub.pem", tmp_path / "msg", tmp_path / "sig"
    pub.write_text(key.public_key.to_pem())
    msg.write_bytes(MESSAGE)
    sig.write_bytes(key.sign(MESSAGE, uid=UID))
    out = openssl(
        "dgst", "-sm3", "-verify", str(pub), "-sigopt", f"distid:{UID}", "-signature", str(sig), str(msg)
    )
    assert b"Verified OK" in out
    sig.write_bytes(key.sign(MESSAGE + b"!", uid=UID))
    with pytest.raises(subprocess.CalledProcessError):
        openssl(
            "dgst", "-sm3", "-verify", str(pub), "-sigopt", f"distid:{UID}", "-signature", str(sig), str(msg)
        )


def test_sm3_hmac_and_sm4_agree_with_openssl(tmp_path: Path) -> None:
    assert openssl("dgst", "-sm3", "-binary", stdin=MESSAGE) == sm3(MESSAGE)
    mac = openssl("mac", "-digest", "SM3", "-macopt", "hexkey:6b6579", "-binary", "HMAC", stdin=MESSAGE)
    assert mac == hmac_sm3(b"key", MESSAGE)
    key, iv = bytes(range(16)), bytes(range(16, 32))
    enc = openssl("enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), stdin=MESSAGE)
    assert enc == sm4_encrypt(key, MESSAGE, "cbc", iv)
    enc = openssl("enc", "-sm4-ecb", "-K", key.hex(), stdin=MESSAGE)
    assert enc == sm4_encrypt(key, MESSAGE, "ecb")


def test_openssl_certificate_verifies_with_ours(openssl_key: tuple[Path, Path], tmp_path: Path) -> None:
    key_pem, _ = openssl_key
    ca_pem = tmp_path / "ca.pem"
    openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        str(key_pem),
        "-sm3",
        "-sigopt",
        f"distid:{UID}",
        "-subj",
        "/C=CN/O=OpenSSL peer/CN=OpenSSL SM2 CA",
        "-days",
        "30",
        "-out",
        str(ca_pem),
    )
    ca = SM2Certificate.load(ca_pem.read_text())
    ca.verify_issued_by(ca)
    info = ca.info()
    assert info.subject_cn == "OpenSSL SM2 CA" and info.is_ca
    serial = openssl("x509", "-in", str(ca_pem), "-noout", "-serial").decode().strip().split("=")[1]
    assert int(serial, 16) == ca.serial_number
    # And a certificate our CA issues for OpenSSL's key checks out in OpenSSL.
    leaf = issue_certificate(
        ca, SM2PrivateKey.load(key_pem.read_bytes()), "CN=leaf", SM2PrivateKey.generate().public_key
    )
    leaf.verify_issued_by(ca)


def test_our_certificate_verifies_with_openssl(tmp_path: Path) -> None:
    ca_key = SM2PrivateKey.generate()
    ca = make_ca("CN=baohan Test CA,O=baohan,C=CN", ca_key)
    leaf = issue_certificate(ca, ca_key, "CN=bidder,O=某公司,C=CN", SM2PrivateKey.generate().public_key)
    ca_pem, leaf_pem = tmp_path / "ca.pem", tmp_path / "leaf.pem"
    ca_pem.write_text(ca.to_pem())
    leaf_pem.write_text(leaf.to_pem())
    out = openssl("verify", "-vfyopt", f"distid:{UID}", "-CAfile", str(ca_pem), str(leaf_pem))
    assert out.strip().endswith(b"OK")
    text = openssl("x509", "-in", str(leaf_pem), "-noout", "-text").decode()
    assert "SM2-with-SM3" in text and "ASN1 OID: SM2" in text
    other = make_ca("CN=baohan Test CA,O=baohan,C=CN", SM2PrivateKey.generate())
    ca_pem.write_text(other.to_pem())
    with pytest.raises(subprocess.CalledProcessError):
        openssl("verify", "-vfyopt", f"distid:{UID}", "-CAfile", str(ca_pem), str(leaf_pem))
