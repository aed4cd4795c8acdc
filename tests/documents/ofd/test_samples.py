"""The verifier against the shared samples, read in place: real tax-bureau invoices and ofdrw's seals and
signatures are valid, the two tampered copies are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from baohan.adapters.documents.ofd import Stamp, seal_ofd, verify_ofd
from baohan.adapters.documents.ofd.ses import load_seal, seal_users
from baohan.gm import SM2Certificate
from tests.documents.ofd.conftest import NOW, SealKit


def _test_signer(samples: Path) -> list[SM2Certificate]:
    # DigitalSign.ofd's bare signature carries no certificate; its signer is USER.p12's, which the test
    # seal UserV4.esl lists.
    return [SM2Certificate(der) for der in seal_users(load_seal((samples / "UserV4.esl").read_bytes()))]


@pytest.mark.parametrize(
    ("name", "kinds", "seal_names"),
    [
        ("signedFile.ofd", ["Seal"], ["国家税务总局江苏省税务局"]),
        ("v4signed.ofd", ["Seal"], ["测试全国统一发票监制章国家税务总局重庆市税务局"]),
        ("SESV4SignDoc.ofd", ["Seal"], ["OFD R&W 测试用印章"]),
        ("DigitalSign.ofd", ["Sign"], [None]),
        (
            "three-signatures.ofd",
            ["Seal", "Sign", "Seal"],
            ["OFD R&W 测试用印章", None, "OFD R&W 测试用印章"],
        ),
    ],
)
def test_valid_samples_verify(
    samples: Path, name: str, kinds: list[str], seal_names: list[str | None]
) -> None:
    check = verify_ofd((samples / name).read_bytes(), known_signers=_test_signer(samples))
    assert check.valid, check.reason
    assert [s.kind for s in check.signatures] == kinds
    assert [s.seal_name for s in check.signatures] == seal_names
    assert all(s.signer is not None for s in check.signatures)


def test_the_expired_test_seal_is_a_warning(samples: Path) -> None:
    (signature,) = verify_ofd((samples / "SESV4SignDoc.ofd").read_bytes()).signatures
    assert signature.valid and any("seal was valid 2020-04-22 to 2022-04-22" in w for w in signature.warnings)


def test_the_real_invoices_need_no_warning(samples: Path) -> None:
    for name in ("signedFile.ofd", "v4signed.ofd"):
        (signature,) = verify_ofd((samples / name).read_bytes()).signatures
        assert signature.valid and signature.warnings == (), (name, signature.warnings)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("tampered-content.ofd", "the SM3 digest of /Doc_0/Pages/Page_0/Content.xml does not match"),
        ("tampered-sigxml.ofd", "dataHash is not SM3 of Signature.xml"),
    ],
)
def test_tampered_samples_are_refused(samples: Path, name: str, reason: str) -> None:
    check = verify_ofd((samples / name).read_bytes(), known_signers=_test_signer(samples))
    assert not check.valid
    assert reason in check.reason


def test_an_unsigned_sample_has_no_signature(samples: Path) -> None:
    check = verify_ofd((samples / "helloworld.ofd").read_bytes())
    assert not check.valid and check.signatures == ()


def test_a_bare_signature_needs_its_signer_named(samples: Path) -> None:
    (signature,) = verify_ofd((samples / "DigitalSign.ofd").read_bytes()).signatures
    assert not signature.valid and "no signer certificate was given" in signature.reason


@pytest.mark.parametrize("name", ["signedFile.ofd", "three-signatures.ofd"])
def test_our_seal_on_a_sealed_sample_leaves_its_signatures_valid(
    samples: Path, name: str, kit: SealKit
) -> None:
    original = (samples / name).read_bytes()
    ours = seal_ofd(original, kit.seal, kit.user.key, kit.user.cert, stamp=Stamp(x=10, y=10), at=NOW)
    before = verify_ofd(original, known_signers=_test_signer(samples)).signatures
    after = verify_ofd(ours, known_signers=_test_signer(samples)).signatures
    assert all(s.valid for s in after), [s.reason for s in after]
    assert [s.part for s in after[:-1]] == [s.part for s in before]
    assert after[-1].seal_name == "示例融资担保股份有限公司保函专用章"
    assert len({s.signature_id for s in after}) == len(after)
