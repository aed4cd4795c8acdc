"""``Type="Sign"`` signatures built here the way GB/T 35275 signers write them (a SignedData whose content is
SM3 of Signature.xml, with or without signed attributes): valid as made, refused when anything is off."""

from __future__ import annotations

from asn1crypto import algos, cms, core, x509
from lxml import etree

from baohan.adapters.documents.ofd import OfdPackage, verify_ofd
from baohan.adapters.documents.ofd.signed_data import GM_DATA, GM_SIGNED_DATA
from baohan.adapters.documents.ofd.xmlparts import OFD_NS
from baohan.gm import sm3
from tests.documents.ofd.conftest import KIT, SEALED, SIGNATURE, VALUE, SealKit, make_kit


def _signed_data(
    content: bytes,
    kit: SealKit,
    *,
    attributes: bool,
    digest: bytes | None = None,
    signer: SealKit | None = None,
) -> bytes:
    cert = x509.Certificate.load(kit.user.cert.to_der())
    signed_attrs = None
    message = content
    if attributes:
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": [GM_DATA]},
                {"type": "message_digest", "values": [digest if digest is not None else sm3(content)]},
            ]
        )
        message = signed_attrs.dump()
    signature = (signer or kit).user.key.sign(message)
    signer_info = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial_number}}
        ),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sm3"}),
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "1.2.156.10197.1.301.1"}),
        "signature": signature,
    }
    if signed_attrs is not None:
        signer_info["signed_attrs"] = signed_attrs
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sm3"})],
            "encap_content_info": {"content_type": GM_DATA, "content": core.OctetString(content)},
            "certificates": [cert],
            "signer_infos": [signer_info],
        }
    )
    return bytes(cms.ContentInfo({"content_type": GM_SIGNED_DATA, "content": signed}).dump())


def _as_sign(value: bytes) -> bytes:
    """SEALED with its one signature turned into a ``Sign`` whose SignedValue.dat is ``value``."""
    package = OfdPackage.read(SEALED)
    signatures = etree.fromstring(package["Doc_0/Signs/Signatures.xml"])
    signatures.find(f"{{{OFD_NS}}}Signature").set("Type", "Sign")
    package.put(
        "Doc_0/Signs/Signatures.xml", etree.tostring(signatures, xml_declaration=True, encoding="UTF-8")
    )
    package.put(VALUE, value)
    return package.to_bytes()


SIGNATURE_XML = OfdPackage.read(SEALED)[SIGNATURE]


def test_a_signed_data_over_the_digest_of_signature_xml_verifies() -> None:
    for attributes in (False, True):
        check = verify_ofd(
            _as_sign(_signed_data(sm3(SIGNATURE_XML), KIT, attributes=attributes)), trusted=[KIT.ca]
        )
        assert check.valid, (attributes, check.reason)
        (signature,) = check.signatures
        assert signature.kind == "Sign" and signature.signer is not None
        assert signature.signer.subject_cn == KIT.user.cert.info().subject_cn


def test_a_signed_data_over_other_content_is_refused() -> None:
    check = verify_ofd(_as_sign(_signed_data(sm3(b"other"), KIT, attributes=False)))
    assert not check.valid and "content is not SM3 of Signature.xml" in check.reason


def test_a_wrong_message_digest_attribute_is_refused() -> None:
    value = _signed_data(sm3(SIGNATURE_XML), KIT, attributes=True, digest=bytes(32))
    check = verify_ofd(_as_sign(value))
    assert not check.valid and "message digest" in check.reason


def test_a_signature_by_another_key_is_refused() -> None:
    value = _signed_data(sm3(SIGNATURE_XML), KIT, attributes=True, signer=make_kit())
    check = verify_ofd(_as_sign(value))
    assert not check.valid and "SM2 signature of the SignedData does not verify" in check.reason


def test_what_is_neither_signed_data_nor_a_signature_is_refused() -> None:
    check = verify_ofd(_as_sign(b"\x30\x03\x02\x01\x01"))
    assert not check.valid and "neither a SignedData nor an SM2 signature" in check.reason
