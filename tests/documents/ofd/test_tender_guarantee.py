"""The tender guarantee documents: the sealed one shows the project fields as ciphertext and carries the
bidder's signed agreement; the plain one shows them in plain text and carries the sealed one unchanged.
Both verify, refuse any change, read in ofdkit and render in easyofd, and keep long text on the page."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from baohan.adapters.documents.ofd import OfdError, OfdPackage, read_attachments, verify_ofd
from baohan.adapters.documents.ofd.xmlparts import OFD_NS
from baohan.adapters.documents.tender_guarantee import (
    CERTIFICATE_FILE,
    SEALED_FILE,
    SIGNATURE_FILE,
    STAMP,
    InstitutionSeal,
    SignedAgreement,
    TenderGuarantee,
    plain_guarantee,
    sealed_guarantee,
)
from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca, sm4_encrypt
from tests.documents.ofd.conftest import INSTITUTION, KIT, NOW, register_reader_font
from tests.documents.ofd.test_readers import _ink, _reader

NS = {"ofd": OFD_NS}
PROJECT_KEY = bytes(range(16))
PLAIN = {
    "bid_section_no": "JSZB-2026-0042-01",
    "bid_section_name": "示例市第一中学新建教学楼施工总承包第一标段",
    "tenderer": "示例市第一中学",
    "tenderer_code": "12320000466000000X",
}
SEAL = InstitutionSeal(KIT.seal, KIT.user.key, KIT.user.cert)


def _cipher(text: str) -> str:
    return base64.b64encode(sm4_encrypt(PROJECT_KEY, text.encode())).decode("ascii")


def _bidder() -> tuple[SM2PrivateKey, SM2Certificate]:
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca("CN=Bidder CA,O=baohan,C=CN", ca_key, now=NOW - timedelta(days=2))
    return key, issue_certificate(ca, ca_key, "CN=示例建设工程有限公司,C=CN", key.public_key, now=NOW)


BIDDER_KEY, BIDDER_CERT = _bidder()
AGREEMENT_TEXT = "投保协议：投标人示例建设工程有限公司申请出具投标保函……".encode()
AGREEMENT = SignedAgreement("agreement.txt", AGREEMENT_TEXT, BIDDER_KEY.sign(AGREEMENT_TEXT), BIDDER_CERT)
SEALED_FACTS = TenderGuarantee(
    guarantee_no="TBH2026000042",
    institution=INSTITUTION,
    bidder_name="示例建设工程有限公司",
    bidder_code="91320000MA1X000001",
    amount=Decimal("50000.00"),
    valid_from=NOW,
    valid_to=NOW + timedelta(days=90),
    issued_at=NOW,
    **{name: _cipher(value) for name, value in PLAIN.items()},
)
PLAIN_FACTS = replace(SEALED_FACTS, **PLAIN)
SEALED = sealed_guarantee(SEALED_FACTS, AGREEMENT, SEAL)
PLAIN_OFD = plain_guarantee(PLAIN_FACTS, SEALED, SEAL)
DOCUMENTS = {"sealed": SEALED, "plain": PLAIN_OFD}


def _squeezed_text(ofd: bytes) -> str:
    ofdkit = _reader("ofdkit")
    with ofdkit.open(ofd) as document:
        text = document.text()
        assert document.warnings == []
    return "".join(text.split())


@pytest.mark.parametrize("which", DOCUMENTS)
def test_both_documents_verify_sealed_by_the_institution(which: str) -> None:
    check = verify_ofd(DOCUMENTS[which], trusted=[KIT.ca])
    assert check.valid, check.reason
    (signature,) = check.signatures
    assert signature.signer is not None and signature.signer.subject_cn == INSTITUTION
    assert signature.signed_at == NOW


def test_the_sealed_one_carries_the_signed_agreement() -> None:
    files = {a.file_name: a for a in read_attachments(SEALED)}
    assert set(files) == {"agreement.txt", SIGNATURE_FILE, CERTIFICATE_FILE}
    assert files["agreement.txt"].data == AGREEMENT_TEXT
    cert = SM2Certificate(files[CERTIFICATE_FILE].data)
    assert cert == BIDDER_CERT
    assert cert.public_key.verify(AGREEMENT_TEXT, files[SIGNATURE_FILE].data)


def test_the_plain_one_carries_the_sealed_one_unchanged_and_still_valid() -> None:
    (attached,) = read_attachments(PLAIN_OFD)
    assert attached.file_name == SEALED_FILE
    assert attached.data == SEALED
    assert verify_ofd(attached.data, trusted=[KIT.ca]).valid


def _every_signed_part() -> list[tuple[str, str]]:
    return [
        (which, name)
        for which, ofd in DOCUMENTS.items()
        for name in OfdPackage.read(ofd)
        if name != "Doc_0/Signs/Signatures.xml"
    ]


@pytest.mark.parametrize(("which", "name"), _every_signed_part())
def test_a_change_to_any_file_is_refused(which: str, name: str) -> None:
    package = OfdPackage.read(DOCUMENTS[which])
    data = bytearray(package[name])
    data[len(data) // 2] ^= 0x20
    package.put(name, bytes(data))
    check = verify_ofd(package.to_bytes(), trusted=[KIT.ca])
    assert not check.valid and check.reason


def test_a_change_inside_the_attached_sealed_guarantee_is_refused() -> None:
    inner = OfdPackage.read(SEALED)
    inner.put("Doc_0/Attachs/agreement.txt", b"another agreement")
    outer = OfdPackage.read(PLAIN_OFD)
    outer.put(f"Doc_0/Attachs/{SEALED_FILE}", inner.to_bytes())
    check = verify_ofd(outer.to_bytes(), trusted=[KIT.ca])
    assert not check.valid and f"/Doc_0/Attachs/{SEALED_FILE} does not match" in check.reason
    assert not verify_ofd(inner.to_bytes(), trusted=[KIT.ca]).valid


def test_ofdkit_reads_the_ciphertext_not_the_plain_fields_in_the_sealed_one() -> None:
    text = _squeezed_text(SEALED)
    assert "保函编号：TBH2026000042" in text and INSTITUTION in text
    assert "¥50,000.00" in text and "伍万元整" in text and "示例建设工程有限公司" in text
    for name, value in PLAIN.items():
        assert getattr(SEALED_FACTS, name) in text, name
        assert value not in text, name


def test_ofdkit_reads_the_plain_fields_in_the_plain_one() -> None:
    text = _squeezed_text(PLAIN_OFD)
    assert "保函编号：TBH2026000042" in text
    for value in PLAIN.values():
        assert value in text
    for name in PLAIN:
        assert getattr(SEALED_FACTS, name) not in text


@pytest.mark.parametrize("which", DOCUMENTS)
def test_easyofd_renders_each_page(which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    easyofd = _reader("easyofd")
    register_reader_font()
    monkeypatch.chdir(tmp_path)
    reader = easyofd.OFD()
    reader.read(DOCUMENTS[which], fmt="binary")
    try:
        pages = reader.to_jpg()
    finally:
        reader.del_data()
    (page,) = pages
    assert page.width > 500 and abs(page.height / page.width - 297 / 210) < 0.01

    def dark(r: int, g: int, b: int) -> bool:
        return r + g + b < 200

    def red(r: int, g: int, b: int) -> bool:
        return r > 180 and g < 90 and b < 90

    assert _ink(page, (25, 30, 80, 6), dark) > 300  # the guarantee number's line
    assert _ink(page, (STAMP.x, STAMP.y, STAMP.width, STAMP.height), red) > 500  # the seal


def _text_boxes(ofd: bytes) -> list[tuple[str, tuple[float, ...]]]:
    page = etree.fromstring(OfdPackage.read(ofd)["Doc_0/Pages/Page_0/Content.xml"])
    return [
        (node.findtext("ofd:TextCode", namespaces=NS), tuple(float(v) for v in node.get("Boundary").split()))
        for node in page.iterfind(".//ofd:TextObject", namespaces=NS)
    ]


def _within_the_page(ofd: bytes) -> None:
    for text, (x, y, width, height) in _text_boxes(ofd):
        assert x >= 10 and x + width <= 200 + 1e-6, text
        assert y >= 0 and y + height <= 290, text


def test_a_500_character_bid_section_name_wraps_within_the_page() -> None:
    long_name = "示例市第一中学新建教学楼施工总承包" * 30
    long_name = long_name[:500]
    facts = replace(PLAIN_FACTS, bid_section_name=long_name)
    ofd = plain_guarantee(facts, SEALED, SEAL)
    assert verify_ofd(ofd, trusted=[KIT.ca]).valid
    _within_the_page(ofd)
    lines = [text for text, _ in _text_boxes(ofd) if text.removeprefix("标段名称：") in long_name]
    assert len(lines) > 5, "the name is wrapped over several lines"
    assert "".join(lines).removeprefix("标段名称：") == long_name
    assert long_name in _squeezed_text(ofd)


def test_ciphertexts_as_long_as_the_spec_allows_stay_on_the_page() -> None:
    # The spec allows 500, 1000, 500 and 200 characters for the four sealed fields.
    longest = dict(zip(PLAIN, (500, 1000, 500, 200), strict=True))
    facts = replace(SEALED_FACTS, **{n: ("QUJD" * 250)[:size] for n, size in longest.items()})
    ofd = sealed_guarantee(facts, AGREEMENT, SEAL)
    _within_the_page(ofd)
    body_bottoms = [y + h for text, (_, y, _, h) in _text_boxes(ofd) if not text.startswith("出函")]
    assert max(body_bottoms) <= STAMP.y + 1e-6, "the body ends above the seal"
    assert ("QUJD" * 250)[:1000] in _squeezed_text(ofd)


def test_plain_text_in_a_sealed_guarantee_is_refused() -> None:
    with pytest.raises(ValueError, match="bid_section_name must be the ciphertext"):
        sealed_guarantee(replace(SEALED_FACTS, bid_section_name=PLAIN["bid_section_name"]), AGREEMENT, SEAL)


def test_an_agreement_whose_signature_does_not_verify_is_refused() -> None:
    with pytest.raises(ValueError, match="agreement's signature does not verify"):
        SignedAgreement("agreement.txt", AGREEMENT_TEXT + b"!", AGREEMENT.signature, BIDDER_CERT)


def test_a_sealed_guarantee_that_does_not_verify_is_not_attached() -> None:
    package = OfdPackage.read(SEALED)
    package.put("Doc_0/Attachs/agreement.txt", b"another agreement")
    with pytest.raises(OfdError, match="does not verify"):
        plain_guarantee(PLAIN_FACTS, package.to_bytes(), SEAL)


def test_the_sealed_guarantee_of_another_number_is_not_attached() -> None:
    with pytest.raises(OfdError, match="is TBH2026000042, not TBH2026000043"):
        plain_guarantee(replace(PLAIN_FACTS, guarantee_no="TBH2026000043"), SEALED, SEAL)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": 50000.0}, "must be a Decimal"),
        ({"amount": Decimal("0.001")}, "more than 2 decimal places"),
        ({"valid_to": NOW}, "valid_to must be after valid_from"),
        ({"guarantee_no": " "}, "guarantee_no must not be empty"),
        ({"issued_at": NOW.replace(tzinfo=None)}, "issued_at must be timezone-aware"),
    ],
)
def test_bad_facts_are_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        replace(SEALED_FACTS, **change)
