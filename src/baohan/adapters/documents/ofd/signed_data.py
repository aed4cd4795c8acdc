"""``Type="Sign"`` signatures (GB/T 33190 §18 with GB/T 35275): an SM2 SignedData over Signature.xml, or,
from older signers, a bare DER SM2 signature of Signature.xml whose certificate the reader must know.

A SignedData's content is SM3(Signature.xml) (what ofdrw writes) or Signature.xml itself; a detached
SignedData signs Signature.xml. Signed attributes, when present, must carry the content's SM3 digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms, core

from baohan.gm import CertificateError, SM2Certificate, sm3
from baohan.gm.oids import SM3, SM3_WITH_SM2
from baohan.gm.signature import der_to_raw

SM2_SIGN = "1.2.156.10197.1.301.1"  # GM/T 0006's bare SM2 signature, used by signers where 501 belongs
SM2_SIGNATURE_OIDS = frozenset({SM3_WITH_SM2, SM2_SIGN})
GM_DATA = "1.2.156.10197.6.1.4.2.1"  # GM/T 0010 data
GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"  # GM/T 0010 signedData
_SIGNED_DATA = frozenset({GM_SIGNED_DATA, "1.2.840.113549.1.7.2"})
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def _register() -> None:
    # GM/T 0010 names PKCS #7's types under its own arc; taught to asn1crypto once, like baohan.gm.oids,
    # so a GM SignedData parses (and builds) as a SignedData.
    if GM_SIGNED_DATA in cms.ContentType._map:
        return
    for oid, name in ((GM_DATA, "gm_data"), (GM_SIGNED_DATA, "gm_signed_data")):
        cms.ContentType._map[oid] = name
        # asn1crypto builds the reverse map once per class, at its first instance: extend it when built
        # (setting it back to None would leave every later ContentType without one).
        if cms.ContentType._reverse_map is not None:
            cms.ContentType._reverse_map[name] = oid
    for holder in (cms.ContentInfo, cms.EncapsulatedContentInfo):
        holder._oid_specs["gm_data"] = core.OctetString
        holder._oid_specs["gm_signed_data"] = cms.SignedData


_register()


@dataclass(frozen=True)
class SignOutcome:
    """Who signed, when they said they did, and why not if the signature fails (``reason`` empty when good)."""

    signer: SM2Certificate | None
    signed_at: datetime | None
    reason: str


def check_sign(value: bytes, signature_xml: bytes, known_signers: Sequence[SM2Certificate]) -> SignOutcome:
    """Check a ``Sign`` SignedValue.dat against the Signature.xml it signs."""
    if der_to_raw(value) is not None:
        for cert in known_signers:
            if cert.public_key.verify(signature_xml, value, fmt="der"):
                return SignOutcome(cert, None, "")
        if not known_signers:
            return SignOutcome(
                None, None, "a bare SM2 signature names no signer and no signer certificate was given"
            )
        return SignOutcome(
            None, None, "the SM2 signature verifies under none of the given signer certificates"
        )
    try:
        return _check_signed_data(value, signature_xml)
    except _PARSE_ERRORS as exc:
        return SignOutcome(
            None, None, f"SignedValue.dat is neither a SignedData nor an SM2 signature ({exc})"
        )


def _check_signed_data(value: bytes, signature_xml: bytes) -> SignOutcome:
    info = cms.ContentInfo.load(value, strict=True)
    if info["content_type"].dotted not in _SIGNED_DATA:
        return SignOutcome(None, None, f"SignedValue.dat holds {info['content_type'].dotted}, not SignedData")
    signed = info["content"]
    encap = signed["encap_content_info"]["content"]
    if isinstance(encap, core.Void):
        content = signature_xml
    else:
        content = encap.parse(core.OctetString).native if isinstance(encap, core.Any) else encap.native
        if content not in (sm3(signature_xml), signature_xml):
            return SignOutcome(
                None, None, "the SignedData's content is not SM3 of Signature.xml (it changed after signing)"
            )
    signer_infos = list(signed["signer_infos"])
    if len(signer_infos) != 1:
        return SignOutcome(None, None, f"the SignedData has {len(signer_infos)} signers, not one")
    signer_info = signer_infos[0]
    cert = _signer_certificate(signed, signer_info)
    if cert is None:
        return SignOutcome(None, None, "the SignedData does not carry its signer's SM2 certificate")
    if signer_info["digest_algorithm"]["algorithm"].dotted != SM3:
        return SignOutcome(cert, None, "the SignedData's digest is not SM3")
    if signer_info["signature_algorithm"]["algorithm"].dotted not in SM2_SIGNATURE_OIDS:
        return SignOutcome(cert, None, "the SignedData is not signed with SM2")
    signed_at, message = None, content
    attributes = signer_info["signed_attrs"]
    if not isinstance(attributes, core.Void):
        values = {a["type"].native: a["values"][0].native for a in attributes}
        if values.get("message_digest") != sm3(content):
            return SignOutcome(cert, None, "the signed attributes' message digest does not match the content")
        signed_at = values.get("signing_time")
        # RFC 5652 §5.4: the signature covers the attributes as an explicit SET OF, not as [0].
        message = b"\x31" + attributes.dump()[1:]
    if not cert.public_key.verify(message, signer_info["signature"].native, fmt="der"):
        return SignOutcome(cert, signed_at, "the SM2 signature of the SignedData does not verify")
    return SignOutcome(cert, signed_at, "")


def _signer_certificate(signed: cms.SignedData, signer_info: cms.SignerInfo) -> SM2Certificate | None:
    sid = signer_info["sid"]
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue
        candidate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            matches = (
                candidate.issuer == wanted["issuer"]
                and candidate.serial_number == wanted["serial_number"].native
            )
        else:
            matches = candidate.key_identifier == sid.chosen.native
        if matches:
            try:
                return SM2Certificate(candidate.dump())
            except CertificateError:
                return None
    return None
