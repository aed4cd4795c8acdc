"""Checking a GB/T 38540 v4 seal signature (SignedValue.dat of a ``Seal``) against its Signature.xml:
``dataHash``, ``propertyInfo``, the signer's SM2 signature over ``TBS_Sign``, the seal maker's signature
over the seal, and the signer's place in the seal's certificate list.

Both signatures are checked over the bytes as the signer wrote them: the maker signs ``eSealInfo`` and the
user ``TBS_Sign`` (what the tax bureau's and ofdrw's seals do). Validity periods that ended before the
signing time are warnings, not forgeries: sealed documents outlive their seals' terms in archives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from baohan.adapters.documents.ofd import asn1
from baohan.adapters.documents.ofd.package import resolve
from baohan.adapters.documents.ofd.ses import lists_user
from baohan.adapters.documents.ofd.signed_data import SM2_SIGNATURE_OIDS
from baohan.gm import CertificateError, SM2Certificate, sm3

# asn1crypto reports malformed DER lazily, with any of these, at whichever access first touches it.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


@dataclass(frozen=True)
class SealOutcome:
    """What a seal signature says and whether it holds (``reason`` empty when it does)."""

    reason: str
    signer: SM2Certificate | None = None
    maker: SM2Certificate | None = None
    seal_name: str | None = None
    signed_at: datetime | None = None
    warnings: tuple[str, ...] = ()


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_seal(value: bytes, signature_xml: bytes, signature_part: str) -> SealOutcome:
    """Check the SES_Signature ``value`` that seals ``signature_xml``, found at part ``signature_part``."""
    try:
        signature = asn1.SESSignature.load(value, strict=True)
        to_sign = signature["to_sign"]
        version = to_sign["version"].native
        info = to_sign["eseal"]["e_seal_info"]
        seal_name = info["property"]["name"].native
        header = (info["header"]["id"].native, info["header"]["version"].native)
    except _PARSE_ERRORS as exc:
        return SealOutcome(f"SignedValue.dat is not a GB/T 38540 SES_Signature v4 ({exc})")
    if version != asn1.SES_VERSION or header != (asn1.HEADER_ID, asn1.SES_VERSION):
        return SealOutcome(f"the seal signature is version {version}, seal header {header}; only 4 is read")
    signer: SM2Certificate | None = None
    try:
        signer = _certificate(bytes(signature["cert"].native), "signer")
        maker = _check(signature, signer, signature_xml, signature_part)
        prop = info["property"]
        signed_at = to_sign["time_info"].native
        warnings = _validity(signer, prop["valid_start"].native, prop["valid_end"].native, signed_at)
    except _Refused as refused:
        return SealOutcome(refused.reason, signer=signer, seal_name=seal_name)
    except _PARSE_ERRORS as exc:
        return SealOutcome(f"the seal signature is malformed ({exc})", signer=signer, seal_name=seal_name)
    return SealOutcome("", signer, maker, seal_name, signed_at, warnings)


def _check(
    signature: asn1.SESSignature, signer: SM2Certificate, signature_xml: bytes, signature_part: str
) -> SM2Certificate:
    """Every check that can refuse the seal; returns the seal maker's certificate."""
    to_sign = signature["to_sign"]
    seal = to_sign["eseal"]
    if to_sign["data_hash"].native != sm3(signature_xml):
        raise _Refused("dataHash is not SM3 of Signature.xml: Signature.xml changed after sealing")
    property_info = to_sign["property_info"].native
    if resolve("", "/" + property_info.lstrip("/")) != signature_part:
        raise _Refused(f"propertyInfo names {property_info}, not this signature's Signature.xml")
    for algorithm, whose in ((signature["signature_alg_id"], "signature"), (seal["sign_alg_id"], "seal")):
        if algorithm.dotted not in SM2_SIGNATURE_OIDS:
            raise _Refused(f"the {whose}'s algorithm {algorithm.dotted} is not SM3withSM2")
    if not signer.public_key.verify(to_sign.dump(), signature["signature"].native, fmt="der"):
        raise _Refused("the signer's SM2 signature over TBS_Sign does not verify")
    maker = _certificate(bytes(seal["cert"].native), "seal maker")
    if not maker.public_key.verify(seal["e_seal_info"].dump(), seal["signed_value"].native, fmt="der"):
        raise _Refused("the seal maker's signature over the seal does not verify")
    if not lists_user(seal, signer):
        raise _Refused("the signer's certificate is not in the seal's certificate list")
    return maker


def _certificate(der: bytes, role: str) -> SM2Certificate:
    try:
        return SM2Certificate(der)
    except CertificateError as exc:
        raise _Refused(f"the {role}'s certificate is unreadable: {exc}") from None


def _validity(signer: SM2Certificate, start: datetime, end: datetime, signed_at: datetime) -> tuple[str, ...]:
    warnings = []
    if not start <= signed_at <= end:
        warnings.append(f"the seal was valid {start:%Y-%m-%d} to {end:%Y-%m-%d}, not at the signing time")
    if not signer.not_before <= signed_at <= signer.not_after:
        warnings.append(
            f"the signer's certificate was valid {signer.not_before:%Y-%m-%d} to {signer.not_after:%Y-%m-%d},"
            " not at the signing time"
        )
    return tuple(warnings)
