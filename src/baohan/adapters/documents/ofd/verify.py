"""Verifying every signature of an OFD document: the reference digests, then for a seal (GB/T 38540 v4)
``dataHash``, the signer's SM2 signature over ``TBS_Sign``, the seal maker's signature over the seal and
the signer's place in the seal's certificate list; for a ``Sign`` the SignedData (:mod:`.signed_data`).

One :class:`SignatureCheck` per signature. Validity periods that ended before the signing time are
warnings, not forgeries: real seals outlive their certificates' terms in archives.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from baohan.adapters.documents.ofd import asn1
from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.package import OfdPackage, resolve
from baohan.adapters.documents.ofd.signed_data import SM2_SIGNATURE_OIDS, check_sign
from baohan.adapters.documents.ofd.structure import (
    ENTRY,
    SignatureEntry,
    documents,
    pages,
    part,
    signature_entries,
)
from baohan.gm import CertificateError, CertificateInfo, SM2Certificate, sm3
from baohan.gm.oids import SM3

_SM3_NAMES = frozenset({SM3, "sm3"})
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sm3": sm3,
    "sha1": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),  # a name for a certificate, as listed
    "sha256": lambda b: hashlib.sha256(b).digest(),
}
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one signature: ``reason`` says why when not ``valid``; ``warnings`` never invalidate."""

    signature_id: str
    kind: str
    part: str
    valid: bool
    reason: str = ""
    warnings: tuple[str, ...] = ()
    signer: CertificateInfo | None = None
    seal_name: str | None = None
    signed_at: datetime | None = None


@dataclass(frozen=True)
class OfdCheck:
    """The verdict on a document: every signature's, or ``problem`` when the package itself is unreadable."""

    signatures: tuple[SignatureCheck, ...] = ()
    problem: str = ""

    @property
    def valid(self) -> bool:
        """True when the document is readable, signed, and every signature is valid."""
        return not self.problem and bool(self.signatures) and all(s.valid for s in self.signatures)

    @property
    def reason(self) -> str:
        """Why the document is not valid ("" when it is)."""
        if self.problem:
            return self.problem
        if not self.signatures:
            return "the document carries no signature"
        bad = next((s for s in self.signatures if not s.valid), None)
        return f"signature {bad.signature_id} ({bad.part}): {bad.reason}" if bad else ""


class _Invalid(Exception):
    """A signature fails; carries the reason and whatever was learnt before it failed."""

    def __init__(self, reason: str, **known: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.known = known


def verify_ofd(
    data: bytes,
    *,
    known_signers: Sequence[SM2Certificate] = (),
    trusted: Sequence[SM2Certificate] | None = None,
) -> OfdCheck:
    """Check every signature of an OFD file.

    ``known_signers`` are certificates for bare ``Sign`` signatures, which carry none. With ``trusted``
    (CA or end-entity certificates), each signer's and seal maker's certificate must be one of them or
    issued by one of them.
    """
    try:
        package = OfdPackage.read(data)
        listed = [
            (entry, document)
            for document, signatures_part in documents(package)
            if signatures_part is not None
            for entry in signature_entries(package, signatures_part)
        ]
    except OfdError as exc:
        return OfdCheck(problem=str(exc))
    return OfdCheck(
        tuple(_check(package, entry, document, known_signers, trusted) for entry, document in listed)
    )


def essential_parts(package: OfdPackage, document: str) -> frozenset[str]:
    """What every signature of ``document`` must cover: OFD.xml, Document.xml and each page's content.

    A signature over less would stay valid while the document it is shown on changes.
    """
    return frozenset({ENTRY, document, *(content for _, content in pages(package, document))})


def _check(
    package: OfdPackage,
    entry: SignatureEntry,
    document: str,
    known_signers: Sequence[SM2Certificate],
    trusted: Sequence[SM2Certificate] | None,
) -> SignatureCheck:
    warnings: list[str] = []
    try:
        signature_xml = part(package, entry.part)
        root = x.parse(signature_xml, entry.part)
        covered = _check_references(package, entry.part, root)
        uncovered = sorted(essential_parts(package, document) - covered)
        if uncovered:
            raise _Invalid(f"the signature does not cover {', '.join('/' + p for p in uncovered)}")
        value = part(package, resolve(entry.part, x.text_of(root, "SignedValue", entry.part)))
        method_node = x.find(root, "SignedInfo/SignatureMethod")
        method = (method_node.text or "").strip() if method_node is not None else ""
        if method not in SM2_SIGNATURE_OIDS:
            warnings.append(f"SignatureMethod {method or '(none)'} is not SM3withSM2")
        if entry.kind == "Sign":
            outcome = check_sign(value, signature_xml, known_signers)
            if outcome.reason:
                raise _Invalid(outcome.reason, signer=outcome.signer)
            assert outcome.signer is not None
            _check_trust(outcome.signer, "signer", trusted)
            return SignatureCheck(
                entry.signature_id,
                entry.kind,
                entry.part,
                True,
                warnings=tuple(warnings),
                signer=outcome.signer.info(),
                signed_at=outcome.signed_at,
            )
        return _check_seal(entry, signature_xml, value, trusted, warnings)
    except _Invalid as failure:
        signer = failure.known.get("signer")
        return SignatureCheck(
            entry.signature_id,
            entry.kind,
            entry.part,
            False,
            failure.reason,
            tuple(warnings),
            signer=signer.info() if isinstance(signer, SM2Certificate) else None,
            seal_name=failure.known.get("seal_name"),  # type: ignore[arg-type]
        )
    except OfdError as exc:
        return SignatureCheck(entry.signature_id, entry.kind, entry.part, False, str(exc), tuple(warnings))


def _check_references(package: OfdPackage, signature_part: str, root: object) -> set[str]:
    """The parts the signature covers, each checked against its digest."""
    references = x.find(root, "SignedInfo/References")
    method = (references.get("CheckMethod", "") if references is not None else "").strip()
    if method.lower() not in _SM3_NAMES:
        raise _Invalid(f"CheckMethod {method or '(none)'} is not SM3 ({SM3})")
    covered: set[str] = set()
    for node in x.find_all(references, "Reference"):
        file_ref = node.get("FileRef", "")
        name = resolve(signature_part, file_ref)
        if name not in package:
            raise _Invalid(f"the signed file {file_ref} is missing")
        try:
            expected = base64.b64decode(x.text_of(node, "CheckValue", signature_part), validate=True)
        except binascii.Error:
            raise _Invalid(f"the CheckValue of {file_ref} is not Base64") from None
        if sm3(package[name]) != expected:
            raise _Invalid(f"the SM3 digest of {file_ref} does not match: the file changed after signing")
        covered.add(name)
    return covered


def _certificate(der: bytes, role: str) -> SM2Certificate:
    try:
        return SM2Certificate(der)
    except CertificateError as exc:
        raise _Invalid(f"the {role}'s certificate is unreadable: {exc}") from None


def _check_seal(
    entry: SignatureEntry,
    signature_xml: bytes,
    value: bytes,
    trusted: Sequence[SM2Certificate] | None,
    warnings: list[str],
) -> SignatureCheck:
    try:
        signature = asn1.SESSignature.load(value, strict=True)
        to_sign = signature["to_sign"]
        version = to_sign["version"].native
        seal = to_sign["eseal"]
        info = seal["e_seal_info"]
        seal_name = info["property"]["name"].native
        header = (info["header"]["id"].native, info["header"]["version"].native)
    except _PARSE_ERRORS as exc:
        raise _Invalid(f"SignedValue.dat is not a GB/T 38540 SES_Signature v4 ({exc})") from None
    if version != asn1.SES_VERSION or header != (asn1.HEADER_ID, asn1.SES_VERSION):
        raise _Invalid(
            f"the seal signature is version {version}, seal header {header}; only version 4 is read"
        )
    try:
        signer = _certificate(bytes(signature["cert"].native), "signer")
        if to_sign["data_hash"].native != sm3(signature_xml):
            raise _Invalid(
                "dataHash is not SM3 of Signature.xml: Signature.xml changed after sealing", signer=signer
            )
        property_info = to_sign["property_info"].native
        if resolve("", "/" + property_info.lstrip("/")) != entry.part:
            raise _Invalid(
                f"propertyInfo names {property_info}, not this signature's Signature.xml", signer=signer
            )
        if signature["signature_alg_id"].dotted not in SM2_SIGNATURE_OIDS:
            raise _Invalid(
                f"the signature algorithm {signature['signature_alg_id'].dotted} is not SM3withSM2"
            )
        if not signer.public_key.verify(to_sign.dump(), signature["signature"].native, fmt="der"):
            raise _Invalid("the signer's SM2 signature over TBS_Sign does not verify", signer=signer)
        maker = _certificate(bytes(seal["cert"].native), "seal maker")
        if seal["sign_alg_id"].dotted not in SM2_SIGNATURE_OIDS:
            raise _Invalid(
                f"the seal's algorithm {seal['sign_alg_id'].dotted} is not SM3withSM2", signer=signer
            )
        if not maker.public_key.verify(info.dump(), seal["signed_value"].native, fmt="der"):
            raise _Invalid("the seal maker's signature over the seal does not verify", signer=signer)
        if not _listed(signer, info["property"]):
            raise _Invalid("the signer's certificate is not in the seal's certificate list", signer=signer)
        signed_at = to_sign["time_info"].native
        valid_start, valid_end = info["property"]["valid_start"].native, info["property"]["valid_end"].native
    except _Invalid as failure:
        failure.known.setdefault("seal_name", seal_name)
        raise
    except _PARSE_ERRORS as exc:
        raise _Invalid(f"the seal signature is malformed ({exc})", seal_name=seal_name) from None
    if not valid_start <= signed_at <= valid_end:
        warnings.append(
            f"the seal was valid {valid_start:%Y-%m-%d} to {valid_end:%Y-%m-%d}, not at the signing time"
        )
    if not signer.not_before <= signed_at <= signer.not_after:
        warnings.append(
            f"the signer's certificate was valid {signer.not_before:%Y-%m-%d} to {signer.not_after:%Y-%m-%d},"
            " not at the signing time"
        )
    try:
        _check_trust(signer, "signer", trusted)
        _check_trust(maker, "seal maker", trusted)
    except _Invalid as failure:
        failure.known.update(signer=signer, seal_name=seal_name)
        raise
    return SignatureCheck(
        entry.signature_id,
        entry.kind,
        entry.part,
        True,
        warnings=tuple(warnings),
        signer=signer.info(),
        seal_name=seal_name,
        signed_at=signed_at,
    )


def _listed(signer: SM2Certificate, prop: asn1.SESESPropertyInfo) -> bool:
    der = signer.to_der()
    listed = prop["cert_list"].dump()
    if prop["cert_list_type"].native == 1:
        return der in [bytes(c.native) for c in asn1.CertInfoList.load(listed)]
    for digest in asn1.CertDigestList.load(listed):
        algorithm = _DIGESTS.get(digest["type"].native.lower().replace("-", ""))
        if algorithm is not None and algorithm(der) == digest["value"].native:
            return True
    return False


def _check_trust(cert: SM2Certificate, role: str, trusted: Sequence[SM2Certificate] | None) -> None:
    if trusted is None or cert in trusted:
        return
    for anchor in trusted:
        try:
            cert.verify_issued_by(anchor)
        except CertificateError:
            continue
        return
    raise _Invalid(f"the {role}'s certificate ({cert.info().subject}) is not issued by a trusted CA")
