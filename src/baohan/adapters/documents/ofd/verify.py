"""Verifying every signature of an OFD document: the reference digests and what they must cover here,
then the seal (:mod:`.seal_check`) or the ``Sign`` (:mod:`.signed_data`), then trust if asked for.

One :class:`SignatureCheck` per signature; warnings never make a signature invalid.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.attachments import listed_attachments
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.package import OfdPackage, resolve
from baohan.adapters.documents.ofd.seal_check import check_seal
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

    def __init__(
        self, reason: str, *, signer: SM2Certificate | None = None, seal_name: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.signer = signer
        self.seal_name = seal_name


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
    """What every signature of ``document`` must cover: OFD.xml, Document.xml, each page's content, and the
    attachment list with every file it names.

    A signature over less would stay valid while the document it is shown on, or what it carries, changes.
    """
    attachments, entries = listed_attachments(package, document)
    carried = [attachments, *(file_part for _, file_part in entries)] if attachments else []
    return frozenset({ENTRY, document, *(content for _, content in pages(package, document)), *carried})


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
        if entry.kind not in ("Seal", "Sign"):
            raise _Invalid(f"the signature Type {entry.kind!r} is neither Seal nor Sign")
        if entry.kind == "Sign":
            outcome = check_sign(value, signature_xml, known_signers)
            if outcome.reason or outcome.signer is None:
                raise _Invalid(outcome.reason, signer=outcome.signer)
            try:
                _check_trust(outcome.signer, "signer", trusted)
            except _Invalid as failure:
                failure.signer = outcome.signer
                raise
            return SignatureCheck(
                entry.signature_id,
                entry.kind,
                entry.part,
                True,
                warnings=tuple(warnings),
                signer=outcome.signer.info(),
                signed_at=outcome.signed_at,
            )
        sealed = check_seal(value, signature_xml, entry.part)
        if sealed.reason or sealed.signer is None or sealed.maker is None:
            raise _Invalid(sealed.reason, signer=sealed.signer, seal_name=sealed.seal_name)
        try:
            _check_trust(sealed.signer, "signer", trusted)
            _check_trust(sealed.maker, "seal maker", trusted)
        except _Invalid as failure:
            failure.signer, failure.seal_name = sealed.signer, sealed.seal_name
            raise
        return SignatureCheck(
            entry.signature_id,
            entry.kind,
            entry.part,
            True,
            warnings=(*warnings, *sealed.warnings),
            signer=sealed.signer.info(),
            seal_name=sealed.seal_name,
            signed_at=sealed.signed_at,
        )
    except _Invalid as failure:
        return SignatureCheck(
            entry.signature_id,
            entry.kind,
            entry.part,
            False,
            failure.reason,
            tuple(warnings),
            signer=failure.signer.info() if failure.signer is not None else None,
            seal_name=failure.seal_name,
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
