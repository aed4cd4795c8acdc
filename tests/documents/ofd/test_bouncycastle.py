"""BouncyCastle, what the Java platforms on the other side run, checks the SM2 signatures in our seals and
in a real tax-bureau seal over the same bytes our verifier does: TBS_Sign for the signer, eSealInfo for the
seal maker."""

from __future__ import annotations

from pathlib import Path

import pytest

from baohan.adapters.documents.ofd import OfdPackage, asn1
from baohan.gm import DEFAULT_UID, SM2Certificate
from tests.documents.ofd.conftest import KIT, SEALED, VALUE
from tests.peers import LinePeer

pytestmark = pytest.mark.interop
UID = DEFAULT_UID.decode("ascii")


def _signatures(value: bytes) -> list[tuple[str, bytes, bytes]]:
    """(public key hex, signed bytes, DER signature) of the signer and of the seal maker."""
    signature = asn1.SESSignature.load(value)
    to_sign = signature["to_sign"]
    seal = to_sign["eseal"]
    signer = SM2Certificate(bytes(signature["cert"].native))
    maker = SM2Certificate(bytes(seal["cert"].native))
    return [
        (signer.public_key.to_hex(), to_sign.dump(), signature["signature"].native),
        (maker.public_key.to_hex(), seal["e_seal_info"].dump(), seal["signed_value"].native),
    ]


def _check(bouncycastle: LinePeer, value: bytes) -> None:
    for public, message, der in _signatures(value):
        assert bouncycastle.call("verify", public, UID, message.hex(), der.hex()) == "true"
        assert bouncycastle.call("verify", public, UID, (message + b"\x00").hex(), der.hex()) == "false"


def test_bouncycastle_verifies_our_seal_signatures(bouncycastle: LinePeer, tmp_path: Path) -> None:
    _check(bouncycastle, OfdPackage.read(SEALED)[VALUE])
    ca = tmp_path / "ca.pem"
    ca.write_text(KIT.ca.to_pem())
    for n, cert in enumerate((KIT.user.cert, KIT.maker.cert)):
        leaf = tmp_path / f"leaf{n}.pem"
        leaf.write_text(cert.to_pem())
        assert bouncycastle.call("verifycert", str(ca), str(leaf)) == "true"


def test_bouncycastle_agrees_on_a_real_tax_bureau_seal(bouncycastle: LinePeer, samples: Path) -> None:
    package = OfdPackage.read((samples / "signedFile.ofd").read_bytes())
    _check(bouncycastle, package["Doc_0/Signs/Sign_0/SignedValue.dat"])


def test_bouncycastle_verifies_the_seals_of_a_tender_guarantee(bouncycastle: LinePeer) -> None:
    from tests.documents.ofd.test_tender_guarantee import PLAIN_OFD, SEALED

    # The plain guarantee's own seal, and the sealed guarantee's seal it carries unchanged.
    _check(bouncycastle, OfdPackage.read(PLAIN_OFD)[VALUE])
    _check(bouncycastle, OfdPackage.read(SEALED)[VALUE])
