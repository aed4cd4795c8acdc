"""BouncyCastle 1.72 (what the Java platforms run): SM2Engine in both modes, SM2Signer, SM2 certificates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from baohan.gm import Layout, SM2Certificate, SM2PrivateKey, SM2PublicKey, issue_certificate, make_ca
from tests.peers import LinePeer

pytestmark = pytest.mark.interop
SIZES = (1, 200, 2048, 65536)
MODES = [("C1C3C2", Layout.C1C3C2), ("C1C2C3", Layout.C1C2C3)]


@pytest.mark.parametrize(("bc_mode", "layout"), MODES)
def test_bouncycastle_ciphertext_decrypts_with_ours(
    bouncycastle: LinePeer, bc_mode: str, layout: Layout
) -> None:
    key = SM2PrivateKey.generate()
    for size in SIZES:
        plain = os.urandom(size)
        ct = bytes.fromhex(bouncycastle.call("encrypt", bc_mode, key.public_key.to_hex(), plain.hex()))
        assert ct[0] == 0x04
        assert key.decrypt(ct, layout=layout) == plain
        assert key.decrypt(ct) == plain  # auto finds the layout by its C3


@pytest.mark.parametrize(("bc_mode", "layout"), MODES)
def test_our_ciphertext_decrypts_with_bouncycastle(
    bouncycastle: LinePeer, bc_mode: str, layout: Layout
) -> None:
    key = SM2PrivateKey.generate()
    for size in SIZES:
        plain = os.urandom(size)
        ct = key.public_key.encrypt(plain, layout=layout)
        assert bouncycastle.call("decrypt", bc_mode, key.to_hex(), ct.hex()) == plain.hex()


def test_bouncycastle_refuses_the_other_layout(bouncycastle: LinePeer) -> None:
    key = SM2PrivateKey.generate()
    ct = key.public_key.encrypt(b"layout matters", layout=Layout.C1C2C3)
    ok, message = bouncycastle.try_call("decrypt", "C1C3C2", key.to_hex(), ct.hex())
    assert not ok and "invalid cipher text" in message.lower()


@pytest.mark.parametrize("uid", ["1234567812345678", "ALICE123@YAHOO.COM"])
def test_bouncycastle_signature_verifies_with_ours(bouncycastle: LinePeer, uid: str) -> None:
    key = SM2PrivateKey.generate()
    for size in (0, 200, 2048):
        msg = os.urandom(size)
        sig = bytes.fromhex(bouncycastle.call("sign", key.to_hex(), uid, msg.hex()))
        assert key.public_key.verify(msg, sig, uid=uid)
        assert not key.public_key.verify(msg + b"x", sig, uid=uid)


@pytest.mark.parametrize("uid", ["1234567812345678", "ALICE123@YAHOO.COM"])
def test_our_signature_verifies_with_bouncycastle(bouncycastle: LinePeer, uid: str) -> None:
    key = SM2PrivateKey.generate()
    for size in (0, 200, 2048):
        msg = os.urandom(size)
        sig = key.sign(msg, uid=uid)
        assert bouncycastle.call("verify", key.public_key.to_hex(), uid, msg.hex(), sig.hex()) == "true"
        assert (
            bouncycastle.call("verify", key.public_key.to_hex(), uid, (msg + b"x").hex(), sig.hex())
            == "false"
        )


def test_our_certificate_verifies_with_bouncycastle(bouncycastle: LinePeer, tmp_path: Path) -> None:
    ca_key = SM2PrivateKey.generate()
    ca = make_ca("CN=baohan Test CA,O=baohan,C=CN", ca_key)
    leaf = issue_certificate(ca, ca_key, "CN=投标人,C=CN", SM2PrivateKey.generate().public_key)
    (tmp_path / "ca.pem").write_text(ca.to_pem())
    (tmp_path / "leaf.pem").write_text(leaf.to_pem())
    assert bouncycastle.call("verifycert", str(tmp_path / "ca.pem"), str(tmp_path / "leaf.pem")) == "true"
    (tmp_path / "other.pem").write_text(
        make_ca("CN=baohan Test CA,O=baohan,C=CN", SM2PrivateKey.generate()).to_pem()
    )
    assert bouncycastle.call("verifycert", str(tmp_path / "other.pem"), str(tmp_path / "leaf.pem")) == "false"


def test_bouncycastle_certificate_verifies_with_ours(bouncycastle: LinePeer, tmp_path: Path) -> None:
    path = tmp_path / "bc-ca.pem"
    serial = bouncycastle.call("makeca", str(path), "BC SM2 CA")
    ca = SM2Certificate.load(path.read_text())
    ca.verify_issued_by(ca)
    assert ca.serial_number == int(serial, 16)
    assert ca.info().subject_cn == "BC SM2 CA"
    assert isinstance(ca.public_key, SM2PublicKey)
