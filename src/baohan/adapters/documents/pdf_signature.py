"""SM2 signatures on PDF guarantees: pyHanko signs (SM3withSM2 CMS); we verify on our own.

Signing is an incremental update with an ``adbe.pkcs7.detached`` CMS SignedData (digest SM3
1.2.156.10197.1.401, signature SM3withSM2 1.2.156.10197.1.501, user ID 1234567812345678) whose signed
attributes carry the content type, signing time, CMS algorithm protection, message digest and the ESS
signing-certificate-v2 reference to the signer certificate.

pyHanko needs no help with SM3: it resolves a digest name through
``getattr(cryptography.hazmat.primitives.hashes, name.upper())``, and ``cryptography`` ships
``hashes.SM3`` (OpenSSL's). Importing ``baohan.gm`` teaches asn1crypto the two OIDs, so asking the
metadata for ``md_algorithm="sm3"`` and the signer for ``sm3_sm2`` is all it takes.

Verification is ours because pyHanko's validator cannot check SM2 signatures; it answers ELY104 (保函验真).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, tsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfSigningSession

from baohan.gm import CertificateError, CertificateInfo, SM2Certificate, SM2PrivateKey, SM3Hasher
from baohan.gm import oids as gm_oids

# A DER SM2 signature is at most 72 bytes (two 33-byte INTEGERs and their headers); the dry run that
# sizes /Contents needs only that many bytes, not a real signature.
_MAX_DER_SIGNATURE = 72
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]")
_CONTENTS_KEY = re.compile(rb"/Contents\s*$")
_HEX = re.compile(rb"<[0-9A-Fa-f]*>")
# GM/T 0006 also names the bare SM2 signature (1.2.156.10197.1.301.1); signers such as e-seal tools
# write it where RFC 5652 would put SM3withSM2, and the check is the same: SM2 over SM3 with the user ID.
_SM2_SIGNATURE_OIDS = frozenset({gm_oids.SM3_WITH_SM2, "1.2.156.10197.1.301.1"})
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
_MAX_CHAIN = 8
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_TIME = "1.2.840.113549.1.9.5"
_ALGORITHM_PROTECTION = "1.2.840.113549.1.9.52"
# The file comes from a counterparty: asn1crypto reports malformed DER with any of these, lazily, at
# whichever access first touches the bad bytes; each means "not a valid signature", never a crash.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


@dataclass(frozen=True)
class PdfSignatureCheck:
    """The answer about a PDF's last signature; ``reason`` says why when ``valid`` is False."""

    valid: bool
    reason: str
    signer: CertificateInfo | None
    signing_time: datetime | None
    covers_whole_file: bool


class _SM2Signer(signers.Signer):
    """A pyHanko signer whose raw signature is our SM3withSM2 (DER r, s, default user ID)."""

    def __init__(self, key: SM2PrivateKey, cert: SM2Certificate, chain: Sequence[SM2Certificate]) -> None:
        super().__init__(
            signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": "sm3_sm2"}),
            signing_cert=x509.Certificate.load(cert.to_der()),
        )
        for extra in chain:
            self.cert_registry.register(x509.Certificate.load(extra.to_der()))
        self._key = key

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != "sm3":
            raise SigningError(f"SM2 signs with SM3 only, not {digest_algorithm}")
        if dry_run:
            return bytes(_MAX_DER_SIGNATURE)
        return self._key.sign(data)


class _TimedPdfSigner(signers.PdfSigner):
    """PdfSigner with a chosen signing time (signing-time attribute and /M), which pyHanko takes from the clock."""

    def __init__(self, meta: signers.PdfSignatureMetadata, signer: signers.Signer, at: datetime) -> None:
        super().__init__(meta, signer)
        self._at = at

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._at
        return session


def sign_pdf(
    pdf: bytes,
    key: SM2PrivateKey,
    cert: SM2Certificate,
    *,
    chain: Sequence[SM2Certificate] = (),
    signing_time: datetime | None = None,
    reason: str = "电子保函签章",
) -> bytes:
    """Sign ``pdf`` as an incremental update with an SM3withSM2 CMS covering all but its /Contents."""
    if not isinstance(key, SM2PrivateKey) or not isinstance(cert, SM2Certificate):
        raise TypeError("key must be an SM2PrivateKey and cert an SM2Certificate")
    if key.public_key != cert.public_key:
        raise ValueError("the private key does not match the signer certificate")
    at = signing_time or datetime.now(UTC)
    if at.utcoffset() is None:
        raise ValueError("signing_time must be timezone-aware")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(bytes(pdf)))
        taken = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
        field_name = next(f"Signature{n}" for n in range(1, len(taken) + 2) if f"Signature{n}" not in taken)
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sm3",  # hashes.SM3 via pyHanko's getattr lookup; see the module docstring
            reason=reason,
            name=cert.info().subject_cn or None,
        )
        signed = _TimedPdfSigner(meta, _SM2Signer(key, cert, chain), at).sign_pdf(writer)
    except PdfError as exc:
        raise ValueError(f"cannot sign: not a readable PDF ({exc})") from None
    return bytes(signed.getbuffer())


def _invalid(
    reason: str,
    *,
    signer: CertificateInfo | None = None,
    signing_time: datetime | None = None,
    covers_whole_file: bool = False,
) -> PdfSignatureCheck:
    return PdfSignatureCheck(False, reason, signer, signing_time, covers_whole_file)


def _locate(pdf: bytes) -> tuple[tuple[int, int, int, int], bytes] | str:
    """The last /ByteRange and the DER inside its /Contents gap, or why they cannot be found."""
    matches = list(_BYTE_RANGE.finditer(pdf))
    if not matches:
        return "no PDF signature found (no /ByteRange)"
    start, first, gap_end, second = (int(n) for n in matches[-1].groups())
    if start != 0 or first <= 0 or gap_end <= first + 1 or gap_end + second > len(pdf):
        return f"/ByteRange [{start} {first} {gap_end} {second}] does not fit a {len(pdf)}-byte file"
    if not _HEX.fullmatch(pdf, first, gap_end):
        return "the gap in /ByteRange is not a single hex string"
    if not _CONTENTS_KEY.search(pdf[max(0, first - 64) : first]):
        return "the gap in /ByteRange is not the signature's /Contents"
    hex_digits = pdf[first + 1 : gap_end - 1]
    if len(hex_digits) % 2:
        hex_digits += b"0"  # PDF 7.3.4.3: a final odd hex digit is followed by an implied 0
    return (start, first, gap_end, second), bytes.fromhex(hex_digits.decode("ascii"))


def _attribute(attrs: cms.CMSAttributes, oid: str) -> list[cms.CMSAttribute]:
    return [a for a in attrs if a["type"].dotted == oid]


def _single_value(attrs: cms.CMSAttributes, name: str, oid: str) -> object:
    found = _attribute(attrs, oid)
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise _Malformed(f"signed attributes need exactly one {name}")
    return found[0]["values"][0]


class _Malformed(Exception):
    """Raised inside verification to leave with a reason."""


def _signer_certificate(signed_data: cms.SignedData, info: cms.SignerInfo) -> SM2Certificate:
    sid = info["sid"]
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if sid.name == "issuer_and_serial_number":
            match = (
                cert.issuer == sid.chosen["issuer"]
                and cert.serial_number == sid.chosen["serial_number"].native
            )
        else:
            match = cert.key_identifier == sid.chosen.native
        if match:
            return SM2Certificate(cert.dump())
    raise _Malformed("the signer certificate is not in the signature")


def _embedded(signed_data: cms.SignedData) -> list[SM2Certificate]:
    certs = []
    for choice in signed_data["certificates"] or ():
        if choice.name == "certificate":
            try:
                certs.append(SM2Certificate(choice.chosen.dump()))
            except CertificateError:
                continue  # not SM2: it cannot be on an SM2 path anyway
    return certs


def _check_trust(
    signer: SM2Certificate,
    trusted: Sequence[SM2Certificate],
    embedded: Sequence[SM2Certificate],
    at: datetime,
) -> None:
    """Raise _Malformed unless ``signer`` is trusted or chains to a trusted CA through embedded CAs."""
    if not signer.not_before <= at <= signer.not_after:
        raise _Malformed(f"the signer certificate is not valid at the signing time {at.isoformat()}")
    current = signer
    for _ in range(_MAX_CHAIN):
        if current in trusted:
            return
        for anchor in trusted:
            try:
                current.verify_issued_by(anchor, at=at)
                return
            except CertificateError:
                continue
        for candidate in embedded:
            if candidate == current:
                continue
            try:
                current.verify_issued_by(candidate, at=at)
            except CertificateError:
                continue
            current = candidate
            break
        else:
            break
    raise _Malformed("the signer certificate is not trusted: no trusted CA issued it")


def _check_signing_certificate_v2(attrs: cms.CMSAttributes, signer: SM2Certificate) -> None:
    found = _attribute(attrs, _SIGNING_CERTIFICATE_V2)
    if not found:
        return
    value = tsp.SigningCertificateV2.load(found[0]["values"][0].dump())
    cert_id = value["certs"][0]
    algorithm = cert_id["hash_algorithm"]["algorithm"].native
    if algorithm == "sm3":
        digest = SM3Hasher().update(signer.to_der()).digest()
    elif algorithm in ("sha256", "sha384", "sha512"):
        digest = hashlib.new(algorithm, signer.to_der()).digest()
    else:
        raise _Malformed(f"signing-certificate-v2 uses an unsupported hash ({algorithm})")
    if digest != cert_id["cert_hash"].native:
        raise _Malformed("signing-certificate-v2 names a different certificate than the signer's")


def _verify(pdf: bytes, trusted: Sequence[SM2Certificate]) -> PdfSignatureCheck:
    located = _locate(pdf)
    if isinstance(located, str):
        return _invalid(located)
    byte_range, der = located
    covers = byte_range[2] + byte_range[3] == len(pdf)
    content = cms.ContentInfo.load(der)
    if content["content_type"].native != "signed_data":
        return _invalid("/Contents is not a CMS SignedData", covers_whole_file=covers)
    signed_data = content["content"]
    if len(signed_data["signer_infos"]) != 1:
        return _invalid("the CMS must carry exactly one signer", covers_whole_file=covers)
    info = signed_data["signer_infos"][0]
    signer_cert = _signer_certificate(signed_data, info)
    signer = signer_cert.info()
    signing_time: datetime | None = None
    try:
        attrs = info["signed_attrs"]
        if not len(attrs):
            raise _Malformed("the CMS has no signed attributes")
        if _attribute(attrs, _SIGNING_TIME):
            signing_time = _single_value(attrs, "signing time", _SIGNING_TIME).native  # type: ignore[attr-defined]
        if not covers:
            extra = len(pdf) - byte_range[2] - byte_range[3]
            raise _Malformed(f"{extra} byte(s) after the signed range: the file was changed after signing")
        _check_signature(pdf, byte_range, signed_data, info, signer_cert)
        _check_trust(signer_cert, trusted, _embedded(signed_data), signing_time or datetime.now(UTC))
    except _Malformed as exc:
        reason = str(exc)
    except _PARSE_ERRORS as exc:
        reason = f"malformed signature: {type(exc).__name__}: {exc}"
    else:
        return PdfSignatureCheck(True, "", signer, signing_time, covers)
    return _invalid(reason, signer=signer, signing_time=signing_time, covers_whole_file=covers)


def _check_signature(
    pdf: bytes,
    byte_range: tuple[int, int, int, int],
    signed_data: cms.SignedData,
    info: cms.SignerInfo,
    signer_cert: SM2Certificate,
) -> None:
    """Raise _Malformed unless the signed attributes match the byte range and the SM2 signature verifies."""
    if info["digest_algorithm"]["algorithm"].dotted != gm_oids.SM3:
        raise _Malformed(f"digest algorithm {info['digest_algorithm']['algorithm'].dotted} is not SM3")
    signature_oid = info["signature_algorithm"]["algorithm"].dotted
    if signature_oid not in _SM2_SIGNATURE_OIDS:
        raise _Malformed(f"signature algorithm {signature_oid} is not SM3withSM2")
    attrs = info["signed_attrs"]
    if _single_value(attrs, "content type", _CONTENT_TYPE).native != "data":  # type: ignore[attr-defined]
        raise _Malformed("signed content type is not data")
    for protection in _attribute(attrs, _ALGORITHM_PROTECTION):
        value = protection["values"][0]
        if (
            value["digest_algorithm"]["algorithm"].dotted != gm_oids.SM3
            or value["signature_algorithm"]["algorithm"].dotted != signature_oid
        ):
            raise _Malformed("CMS algorithm protection disagrees with the signer's algorithms")

    start, first, gap_end, second = byte_range
    digest = SM3Hasher().update(pdf[start : start + first]).update(pdf[gap_end : gap_end + second]).digest()
    if digest != _single_value(attrs, "message digest", _MESSAGE_DIGEST).native:  # type: ignore[attr-defined]
        raise _Malformed("the document's SM3 digest does not match the signed message digest")

    # RFC 5652 §5.4: the signature is over the DER of the attributes as a SET OF (tag 0x31), not as the
    # [0] IMPLICIT field they are stored in; the stored bytes are kept, never re-encoded.
    signed_bytes = b"\x31" + attrs.dump()[1:]
    if not signer_cert.public_key.verify(signed_bytes, bytes(info["signature"].native), fmt="der"):
        raise _Malformed("the SM2 signature does not verify with the signer certificate's key")
    _check_signing_certificate_v2(attrs, signer_cert)


def verify_pdf(pdf: bytes, trusted: Sequence[SM2Certificate]) -> PdfSignatureCheck:
    """Check the last signature of ``pdf`` against ``trusted`` CAs or signer certificates; never raises on bad input."""
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise TypeError(f"pdf must be bytes, not {type(pdf).__name__}")
    if isinstance(trusted, str | bytes) or not isinstance(trusted, Iterable):
        raise TypeError("trusted must be a sequence of SM2Certificate")
    anchors = list(trusted)
    if not all(isinstance(c, SM2Certificate) for c in anchors):
        raise TypeError("trusted must be a sequence of SM2Certificate")
    try:
        return _verify(bytes(pdf), anchors)
    except _Malformed as exc:
        return _invalid(str(exc))
    except CertificateError as exc:
        return _invalid(f"the signer certificate is unusable: {exc}")
    except _PARSE_ERRORS as exc:
        return _invalid(f"malformed signature: {type(exc).__name__}: {exc}")
