"""Tender sealed values and files against real peers: sm-crypto (what the bidder's browser page runs) and
BouncyCastle (what Java platforms run)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from baohan.gm import SM2PrivateKey
from baohan.protocols.tender.files import EncryptedFile, FileKey, decrypt_file
from baohan.protocols.tender.sealing import (
    encode_key,
    new_project_key,
    open_application,
    open_envelope,
    open_project_fields,
    seal_application,
    seal_file_secret,
    seal_project_fields,
)
from tests.peers import LinePeer

pytestmark = pytest.mark.interop
APPLICATION = {
    "applyno": "TB-2026-0001",
    "biaoduanno": "ZB-2026-001-01",
    "biaoduanname": "某某路段改造工程 一标段",
    "zbr": "某某市交通局",
    "zbrorgnum": "11330100MB0000000X",
    "bzjamount": "50000.00",
    "note": 'tabs\tand "quotes"\nand newlines',
}


def test_sm_crypto_opens_our_applydata_the_bidder_page_way(sm_crypto: LinePeer) -> None:
    bidder = SM2PrivateKey.generate()
    project_key = new_project_key()
    sealed = seal_project_fields(APPLICATION, project_key)
    for _ in range(8):  # fresh K and ephemeral point each time: any leading byte of C1
        applydata, envelope = seal_application(sealed, bidder.public_key)
        opened = json.loads(sm_crypto.call("tenderopen", bidder.to_hex(), envelope, applydata))
        assert opened == sealed
        for name in ("biaoduanno", "biaoduanname", "zbr", "zbrorgnum"):
            assert sm_crypto.call("tenderfield", encode_key(project_key), opened[name]) == APPLICATION[name]


def test_sm_crypto_refuses_an_envelope_for_another_key(sm_crypto: LinePeer) -> None:
    applydata, envelope = seal_application(APPLICATION, SM2PrivateKey.generate().public_key)
    ok, _ = sm_crypto.try_call("tenderopen", SM2PrivateKey.generate().to_hex(), envelope, applydata)
    assert not ok


def test_sm_crypto_sealed_application_opens_with_ours(sm_crypto: LinePeer) -> None:
    bidder = SM2PrivateKey.generate()
    for _ in range(4):
        payload = json.dumps(APPLICATION, ensure_ascii=False)
        envelope, applydata = sm_crypto.call("tenderseal", bidder.public_key.to_hex(), payload).split("\t")
        key = open_envelope(envelope, bidder)
        assert open_application(applydata, key) == APPLICATION
        assert open_envelope(envelope, bidder, layout="c1c3c2", prefix=True, encoding="base64") == key


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 2**20 - 1, 2**20, 2**20 + 1, 3 * 2**20 + 5])
def test_bouncycastle_decrypts_our_file_with_our_key_fields(
    bouncycastle: LinePeer, tmp_path: Path, length: int
) -> None:
    platform = SM2PrivateKey.generate()
    plain = os.urandom(length)
    key = FileKey.fresh()
    encrypted = EncryptedFile([plain], key)
    sealed_file = tmp_path / "guarantee.enc"
    with sealed_file.open("wb") as out:
        for piece in encrypted:
            out.write(piece)
    key_field = seal_file_secret(key.key, platform.public_key)
    iv_field = seal_file_secret(key.iv, platform.public_key)
    result = tmp_path / "guarantee.plain"
    md5 = bouncycastle.call(
        "tenderfile", platform.to_hex(), key_field, iv_field, str(sealed_file), str(result)
    )
    assert md5 == encrypted.digest
    assert result.read_bytes() == plain


@pytest.mark.parametrize("length", [0, 17, 2**20 + 1])
def test_bouncycastle_encrypted_file_decrypts_with_ours(
    bouncycastle: LinePeer, tmp_path: Path, length: int
) -> None:
    plain = os.urandom(length)
    key = FileKey.fresh()
    source, sealed_file = tmp_path / "plain", tmp_path / "sealed"
    source.write_bytes(plain)
    md5 = bouncycastle.call("sm4cbcfile", key.key.hex(), key.iv.hex(), str(source), str(sealed_file))
    ciphertext = sealed_file.read_bytes()
    slices = [ciphertext[at : at + 2**20] for at in range(0, len(ciphertext), 2**20)]
    assert b"".join(decrypt_file(slices, key, expected=md5)) == plain


def test_sealed_fields_open_after_sm_crypto_sealed_them(sm_crypto: LinePeer) -> None:
    project_key = new_project_key()
    sealed = dict(APPLICATION)
    for name in ("biaoduanno", "biaoduanname", "zbr"):
        hex_ct = sm_crypto.call("sm4enc", "ecb", project_key.hex(), "", APPLICATION[name].encode().hex())
        sealed[name] = base64.b64encode(bytes.fromhex(hex_ct)).decode()
    del sealed["zbrorgnum"]
    expected = {k: v for k, v in APPLICATION.items() if k != "zbrorgnum"}
    assert open_project_fields(sealed, project_key) == expected
