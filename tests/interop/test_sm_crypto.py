"""sm-crypto (Node), what most front ends run: cipherMode 1 and 0, hex without the 04 prefix, signatures, SM3/SM4."""

from __future__ import annotations

import os

import pytest

from baohan.gm import Layout, SM2PrivateKey, hmac_sm3, sm3, sm4_decrypt, sm4_encrypt
from tests.peers import LinePeer

pytestmark = pytest.mark.interop
SIZES = (1, 200, 2048, 65536)
MODES = [("1", Layout.C1C3C2), ("0", Layout.C1C2C3)]


@pytest.mark.parametrize(("mode", "layout"), MODES)
def test_sm_crypto_ciphertext_decrypts_with_ours(sm_crypto: LinePeer, mode: str, layout: Layout) -> None:
    key = SM2PrivateKey.generate()
    for size in SIZES:
        plain = os.urandom(size)
        ct_hex = sm_crypto.call("encrypt", mode, key.public_key.to_hex(), plain.hex())
        ct = bytes.fromhex(ct_hex)
        assert len(ct) == 64 + 32 + size  # no 04 prefix
        assert key.decrypt(ct, layout=layout, prefix=False) == plain
        assert key.decrypt(ct) == plain


@pytest.mark.parametrize(("mode", "layout"), MODES)
def test_our_ciphertext_decrypts_with_sm_crypto(sm_crypto: LinePeer, mode: str, layout: Layout) -> None:
    key = SM2PrivateKey.generate()
    for size in SIZES:
        plain = os.urandom(size)
        ct = key.public_key.encrypt(plain, layout=layout, prefix=False)
        assert sm_crypto.call("decrypt", mode, key.to_hex(), ct.hex()) == plain.hex()


def test_public_key_derivation_agrees(sm_crypto: LinePeer) -> None:
    key = SM2PrivateKey.generate()
    assert sm_crypto.call("pubkey", key.to_hex()) == key.public_key.to_hex()


@pytest.mark.parametrize("der", ["1", "0"])
def test_signatures_both_ways(sm_crypto: LinePeer, der: str) -> None:
    key = SM2PrivateKey.generate()
    pub = key.public_key.to_hex()
    for size in (0, 200, 2048):
        msg = os.urandom(size)
        theirs = bytes.fromhex(sm_crypto.call("sign", key.to_hex(), pub, msg.hex(), der))
        assert len(theirs) == 64 if der == "0" else theirs[0] == 0x30
        assert key.public_key.verify(msg, theirs)
        assert not key.public_key.verify(msg + b"x", theirs)
        ours = key.sign(msg, fmt="der" if der == "1" else "raw")
        assert sm_crypto.call("verify", pub, msg.hex(), ours.hex(), der) == "true"
        assert sm_crypto.call("verify", pub, (msg + b"x").hex(), ours.hex(), der) == "false"


def test_sm3_and_hmac_agree(sm_crypto: LinePeer) -> None:
    for size in (0, 3, 64, 1000):
        msg = os.urandom(size)
        assert sm_crypto.call("sm3", msg.hex()) == sm3(msg).hex()
        assert sm_crypto.call("hmac", b"appsecret".hex(), msg.hex()) == hmac_sm3(b"appsecret", msg).hex()


@pytest.mark.parametrize("mode", ["ecb", "cbc"])
def test_sm4_agrees(sm_crypto: LinePeer, mode: str) -> None:
    key = os.urandom(16)
    iv = os.urandom(16) if mode == "cbc" else None
    for size in (0, 15, 16, 1000):
        msg = os.urandom(size)
        ours = sm4_encrypt(key, msg, mode, iv)
        assert sm_crypto.call("sm4enc", mode, key.hex(), iv.hex() if iv else "", msg.hex()) == ours.hex()
        assert (
            sm4_decrypt(
                key,
                bytes.fromhex(sm_crypto.call("sm4enc", mode, key.hex(), iv.hex() if iv else "", msg.hex())),
                mode,
                iv,
            )
            == msg
        )
        assert sm_crypto.call("sm4dec", mode, key.hex(), iv.hex() if iv else "", ours.hex()) == msg.hex()
