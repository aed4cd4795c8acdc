"""Sealing our OFDs and verifying them: valid when untouched, refused after any change, and a second seal
or an embedding leaves the first seal valid."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from baohan.adapters.documents.ofd import (
    Attachment,
    OfdError,
    OfdPackage,
    Stamp,
    asn1,
    seal_ofd,
    verify_ofd,
    write_ofd,
)
from baohan.adapters.documents.ofd.ses import sign_document
from baohan.adapters.documents.ofd.xmlparts import OFD_NS
from baohan.gm import sm3
from baohan.gm.oids import SM3_WITH_SM2
from tests.documents.ofd.conftest import (
    KIT,
    NOW,
    SEALED,
    SIGNATURE,
    VALUE,
    SealKit,
    guarantee_document,
    make_kit,
)

NS = {"ofd": OFD_NS}
SIGNED_PARTS = [name for name in OfdPackage.read(SEALED) if name != "Doc_0/Signs/Signatures.xml"]


def _replace(ofd: bytes, name: str, data: bytes) -> bytes:
    package = OfdPackage.read(ofd)
    package.put(name, data)
    return package.to_bytes()


def test_a_sealed_document_verifies(kit: SealKit) -> None:
    check = verify_ofd(SEALED, trusted=[KIT.ca])
    assert check.valid, check.reason
    (signature,) = check.signatures
    assert (signature.kind, signature.part, signature.warnings) == ("Seal", SIGNATURE, ())
    assert signature.signer is not None and signature.signer.subject_cn == "示例融资担保股份有限公司"
    assert signature.seal_name == "示例融资担保股份有限公司保函专用章"
    assert signature.signed_at == NOW


def test_the_seal_has_the_form_real_readers_verify() -> None:
    package = OfdPackage.read(SEALED)
    ofd = etree.fromstring(package["OFD.xml"])
    assert ofd.findtext("ofd:DocBody/ofd:Signatures", namespaces=NS) == "Doc_0/Signs/Signatures.xml"
    listed = etree.fromstring(package["Doc_0/Signs/Signatures.xml"]).find("ofd:Signature", namespaces=NS)
    assert (listed.get("Type"), listed.get("BaseLoc")) == ("Seal", "/" + SIGNATURE)
    signature = etree.fromstring(package[SIGNATURE])
    assert signature.findtext("ofd:SignedInfo/ofd:SignatureMethod", namespaces=NS) == SM3_WITH_SM2
    references = signature.find("ofd:SignedInfo/ofd:References", namespaces=NS)
    assert references.get("CheckMethod") == "1.2.156.10197.1.401"
    covered = {r.get("FileRef"): r.findtext("ofd:CheckValue", namespaces=NS) for r in references}
    # Every file but the signature list and the signature's own two files, each with its Base64 SM3.
    expected = {n for n in package if n not in ("Doc_0/Signs/Signatures.xml", SIGNATURE, VALUE)}
    assert set(covered) == {"/" + n for n in expected}
    assert all(base64.b64decode(covered["/" + n]) == sm3(package[n]) for n in expected)
    stamp = signature.find("ofd:SignedInfo/ofd:StampAnnot", namespaces=NS)
    page_id = (
        etree.fromstring(package["Doc_0/Document.xml"]).find("ofd:Pages/ofd:Page", namespaces=NS).get("ID")
    )
    assert (stamp.get("PageRef"), stamp.get("Boundary")) == (page_id, "140 230 40 40")
    assert signature.findtext("ofd:SignedValue", namespaces=NS) == "/" + VALUE
    value = asn1.SESSignature.load(package[VALUE], strict=True)
    assert value["to_sign"]["property_info"].native == "/" + SIGNATURE
    assert bytes(asn1.SESSignature.load(package[VALUE]).dump(force=True)) == package[VALUE]  # strict DER


def test_sealing_again_adds_a_signature_and_keeps_the_first_valid() -> None:
    twice = seal_ofd(SEALED, KIT.seal, KIT.user.key, KIT.user.cert, stamp=Stamp(x=20, y=230), at=NOW)
    first, second = OfdPackage.read(SEALED), OfdPackage.read(twice)
    assert all(second[n] == first[n] for n in first if n != "Doc_0/Signs/Signatures.xml")
    check = verify_ofd(twice, trusted=[KIT.ca])
    assert check.valid, check.reason
    assert [s.part for s in check.signatures] == [SIGNATURE, "Doc_0/Signs/Sign_1/Signature.xml"]
    assert len({s.signature_id for s in check.signatures}) == 2
    # The second seal covers the first one's files: tampering with the first now breaks both.
    broken = verify_ofd(_replace(twice, VALUE, second[VALUE][:-1] + bytes([second[VALUE][-1] ^ 1])))
    assert [s.valid for s in broken.signatures] == [False, False]


def test_a_sealed_document_embedded_as_an_attachment_stays_sealed() -> None:
    outer = guarantee_document(
        KIT, attachments=(Attachment("sealed-guarantee.ofd", SEALED, NOW, format="ofd"),)
    )
    merged = seal_ofd(write_ofd(outer), KIT.seal, KIT.user.key, KIT.user.cert, at=NOW)
    assert verify_ofd(merged, trusted=[KIT.ca]).valid
    carried = OfdPackage.read(merged)["Doc_0/Attachs/sealed-guarantee.ofd"]
    assert carried == SEALED
    assert verify_ofd(carried, trusted=[KIT.ca]).valid


@given(
    part=st.sampled_from(SIGNED_PARTS),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    flip=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_change_in_a_signed_file_is_detected(part: str, where: float, flip: int) -> None:
    data = bytearray(OfdPackage.read(SEALED)[part])
    at = int(where * len(data))
    data[at] ^= flip
    check = verify_ofd(_replace(SEALED, part, bytes(data)), trusted=[KIT.ca])
    assert not check.valid
    assert check.reason


def test_a_changed_signature_xml_fails_on_data_hash() -> None:
    package = OfdPackage.read(SEALED)
    changed = package[SIGNATURE].replace(b"<ofd:SignedInfo>", b"<ofd:SignedInfo> ")
    check = verify_ofd(_replace(SEALED, SIGNATURE, changed))
    assert not check.valid and "dataHash" in check.signatures[0].reason


def test_a_changed_page_fails_on_its_reference_digest() -> None:
    page = "Doc_0/Pages/Page_0/Content.xml"
    changed = OfdPackage.read(SEALED)[page].replace("伍万".encode(), "伍佰万".encode())
    check = verify_ofd(_replace(SEALED, page, changed))
    assert not check.valid and "/Doc_0/Pages/Page_0/Content.xml does not match" in check.reason


def test_a_removed_file_is_reported_missing() -> None:
    package = OfdPackage.read(SEALED)
    smaller = OfdPackage({n: d for n, d in package.items() if n != "Doc_0/PublicRes.xml"})
    check = verify_ofd(smaller.to_bytes())
    assert not check.valid and "/Doc_0/PublicRes.xml is missing" in check.reason


def _resign(to_sign: asn1.TBSSign, kit: SealKit) -> bytes:
    return bytes(
        asn1.SESSignature(
            {
                "to_sign": to_sign,
                "cert": kit.user.cert.to_der(),
                "signature_alg_id": SM3_WITH_SM2,
                "signature": kit.user.key.sign(to_sign.dump()),
            }
        ).dump()
    )


def test_a_seal_whose_content_the_user_changed_fails_on_the_makers_signature() -> None:
    value = asn1.SESSignature.load(OfdPackage.read(SEALED)[VALUE])
    to_sign = value["to_sign"].copy()
    to_sign["eseal"]["e_seal_info"]["property"]["name"] = "另一枚印章"
    check = verify_ofd(_replace(SEALED, VALUE, _resign(to_sign, KIT)))
    assert not check.valid and "seal maker's signature" in check.reason


def test_a_certificate_outside_the_seals_list_may_not_use_it() -> None:
    stranger = make_kit("冒用者有限公司")
    value = asn1.SESSignature.load(OfdPackage.read(SEALED)[VALUE])
    check = verify_ofd(_replace(SEALED, VALUE, _resign(value["to_sign"].copy(), stranger)))
    assert not check.valid and "not in the seal's certificate list" in check.reason


def test_a_signature_made_for_another_place_is_refused() -> None:
    package = OfdPackage.read(SEALED)
    elsewhere = sign_document(
        KIT.seal, package[SIGNATURE], "/Doc_0/Signs/Sign_9/Signature.xml", KIT.user.key, KIT.user.cert, at=NOW
    )
    check = verify_ofd(_replace(SEALED, VALUE, elsewhere))
    assert not check.valid and "propertyInfo" in check.reason


def test_an_expired_seal_is_a_warning_not_a_forgery() -> None:
    short = make_kit(valid_days=10)
    late = NOW + timedelta(days=30)
    sealed = seal_ofd(
        write_ofd(guarantee_document(short)), short.seal, short.user.key, short.user.cert, at=late
    )
    check = verify_ofd(sealed, trusted=[short.ca])
    assert check.valid, check.reason
    assert any("the seal was valid" in w for w in check.signatures[0].warnings)


def test_trust_when_asked_for_is_checked() -> None:
    other = make_kit()
    check = verify_ofd(SEALED, trusted=[other.ca])
    assert not check.valid and "not issued by a trusted CA" in check.reason
    assert verify_ofd(SEALED, trusted=[KIT.user.cert, KIT.maker.cert]).valid


def test_what_is_not_a_sealed_document_is_not_valid() -> None:
    unsigned = verify_ofd(write_ofd(guarantee_document(KIT)))
    assert not unsigned.valid and unsigned.reason == "the document carries no signature"
    garbage = verify_ofd(b"not a zip")
    assert not garbage.valid and "not a ZIP" in garbage.reason


def test_sealing_refuses_a_page_the_document_lacks_or_a_stamp_off_the_page() -> None:
    with pytest.raises(OfdError, match="no page 3"):
        seal_ofd(SEALED, KIT.seal, KIT.user.key, KIT.user.cert, stamp=Stamp(page=3), at=NOW)
    with pytest.raises(OfdError, match=r"not within page 0 \(0 0 210 297\)"):
        seal_ofd(SEALED, KIT.seal, KIT.user.key, KIT.user.cert, stamp=Stamp(x=180, y=10), at=NOW)


@given(
    where=st.floats(min_value=0, max_value=1, exclude_max=True), flip=st.integers(min_value=1, max_value=255)
)
def test_a_damaged_file_gives_a_verdict_never_an_exception(where: float, flip: int) -> None:
    data = bytearray(SEALED)
    data[int(where * len(data))] ^= flip
    check = verify_ofd(bytes(data), trusted=[KIT.ca])
    if check.valid:  # the byte was ZIP bookkeeping (a time, a comment), not content
        assert dict(OfdPackage.read(bytes(data))) == dict(OfdPackage.read(SEALED))


def test_a_signature_must_cover_the_document_and_its_pages() -> None:
    package = OfdPackage.read(SEALED)
    signature = etree.fromstring(package[SIGNATURE])
    references = signature.find("ofd:SignedInfo/ofd:References", namespaces=NS)
    for reference in list(references):
        if reference.get("FileRef") == "/Doc_0/Pages/Page_0/Content.xml":
            references.remove(reference)
    narrower = etree.tostring(signature, xml_declaration=True, encoding="UTF-8")
    package.put(SIGNATURE, narrower)
    package.put(
        VALUE, sign_document(KIT.seal, narrower, "/" + SIGNATURE, KIT.user.key, KIT.user.cert, at=NOW)
    )
    check = verify_ofd(package.to_bytes(), trusted=[KIT.ca])
    assert not check.valid
    assert check.reason.endswith("the signature does not cover /Doc_0/Pages/Page_0/Content.xml")


def _digest_listed_seal(digest: bytes) -> bytes:
    """KIT's seal with its user named by an SM3 digest (``certListType`` 2) instead of the certificate."""
    info = asn1.SESeal.load(KIT.seal)["e_seal_info"].copy()
    info["property"]["cert_list_type"] = 2
    info["property"]["cert_list"] = asn1.CertDigestList([{"type": "SM3", "value": digest}])
    seal = asn1.SESeal(
        {
            "e_seal_info": info,
            "cert": KIT.maker.cert.to_der(),
            "sign_alg_id": SM3_WITH_SM2,
            "signed_value": KIT.maker.key.sign(info.dump()),
        }
    )
    return bytes(seal.dump())


def test_a_seal_may_name_its_user_by_certificate_digest() -> None:
    unsealed = write_ofd(guarantee_document(KIT))
    listed = _digest_listed_seal(sm3(KIT.user.cert.to_der()))
    check = verify_ofd(seal_ofd(unsealed, listed, KIT.user.key, KIT.user.cert, at=NOW), trusted=[KIT.ca])
    assert check.valid, check.reason
    with pytest.raises(OfdError, match="not one of the seal's users"):
        seal_ofd(unsealed, _digest_listed_seal(bytes(32)), KIT.user.key, KIT.user.cert, at=NOW)
    # Made by hand, the signature of an unlisted user is refused by the verifier too.
    package = OfdPackage.read(SEALED)
    to_sign = asn1.SESSignature.load(package[VALUE])["to_sign"].copy()
    to_sign["eseal"] = asn1.SESeal.load(_digest_listed_seal(bytes(32)))
    check = verify_ofd(_replace(SEALED, VALUE, _resign(to_sign, KIT)))
    assert not check.valid and "not in the seal's certificate list" in check.reason
