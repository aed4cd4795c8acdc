"""Making GB/T 38540 seals and signatures: an SESeal signed by the seal maker, and an SES_Signature v4 by
which a certificate listed in the seal seals a document. Both strict DER, signed SM3withSM2 through
:mod:`baohan.gm` with the default user ID 1234567812345678.

The maker signs the DER of ``eSealInfo`` and the user signs the DER of ``TBS_Sign``: what both real
tax-bureau seals and ofdrw do (checked against the samples in the tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core

from baohan.adapters.documents.ofd import asn1
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.gm import SM2Certificate, SM2PrivateKey, sm3
from baohan.gm.oids import SM3_WITH_SM2

SEAL_TYPE_ORGANISATION = 1  # GB/T 38540 §5.2: 1 单位印章, 2 个人印章
CERT_LIST_CERTS = 1
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sm3": sm3,
    "sha1": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),  # names a listed certificate
    "sha256": lambda b: hashlib.sha256(b).digest(),
}
_MAX_PICTURE = 1024 * 1024


@dataclass(frozen=True)
class SealSpec:
    """What a seal says: id, name, picture (PNG, size in mm), validity, and who may use it."""

    es_id: str
    name: str
    picture_png: bytes
    users: Sequence[SM2Certificate]
    valid_from: datetime
    valid_to: datetime
    picture_size_mm: tuple[int, int] = (40, 40)
    seal_type: int = SEAL_TYPE_ORGANISATION
    vendor_id: str = "baohan"

    def __post_init__(self) -> None:
        if not self.es_id.isascii() or not self.es_id.isprintable() or not self.es_id:
            raise OfdError("es_id must be printable ASCII")
        if not self.vendor_id.isascii() or not self.vendor_id:
            raise OfdError("vendor_id must be ASCII")
        if not self.name.strip():
            raise OfdError("the seal needs a name")
        if not self.picture_png.startswith(b"\x89PNG\r\n\x1a\n") or len(self.picture_png) > _MAX_PICTURE:
            raise OfdError("the seal picture must be a PNG of at most 1 MiB")
        if not self.users:
            raise OfdError("a seal lists at least one certificate that may use it")
        for moment in (self.valid_from, self.valid_to):
            if moment.utcoffset() is None:
                raise OfdError("seal validity times must be timezone-aware")
        if self.valid_to <= self.valid_from:
            raise OfdError("the seal's validity must end after it starts")
        if any(not 0 < v < 1000 for v in self.picture_size_mm):
            raise OfdError("picture_size_mm must be within 1..999")


def _time(moment: datetime) -> core.GeneralizedTime:
    # DER GeneralizedTime: UTC, whole seconds, a trailing Z.
    return core.GeneralizedTime(moment.astimezone(UTC).replace(microsecond=0))


def make_seal(
    spec: SealSpec, maker_key: SM2PrivateKey, maker_cert: SM2Certificate, *, created: datetime
) -> bytes:
    """The DER SESeal of ``spec``, signed by the seal maker."""
    if maker_key.public_key != maker_cert.public_key:
        raise OfdError("the maker's key does not match the maker's certificate")
    if created.utcoffset() is None:
        raise OfdError("created must be timezone-aware")
    info = asn1.SESSealInfo(
        {
            "header": {"id": asn1.HEADER_ID, "version": asn1.SES_VERSION, "vid": spec.vendor_id},
            "es_id": spec.es_id,
            "property": {
                "type": spec.seal_type,
                "name": spec.name,
                "cert_list_type": CERT_LIST_CERTS,
                "cert_list": asn1.CertInfoList([u.to_der() for u in spec.users]),
                "create_date": _time(created),
                "valid_start": _time(spec.valid_from),
                "valid_end": _time(spec.valid_to),
            },
            "picture": {
                "type": "PNG",
                "data": spec.picture_png,
                "width": spec.picture_size_mm[0],
                "height": spec.picture_size_mm[1],
            },
        }
    )
    seal = asn1.SESeal(
        {
            "e_seal_info": info,
            "cert": maker_cert.to_der(),
            "sign_alg_id": SM3_WITH_SM2,
            "signed_value": maker_key.sign(info.dump()),
        }
    )
    return bytes(seal.dump())


def load_seal(der: bytes) -> asn1.SESeal:
    """Parse a DER SESeal (version 4); anything else is an :class:`OfdError`."""
    try:
        seal: asn1.SESeal = asn1.SESeal.load(der, strict=True)
        version = seal["e_seal_info"]["header"]["version"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise OfdError(f"not a GB/T 38540 seal: {exc}") from None
    if version != asn1.SES_VERSION:
        raise OfdError(f"the seal is version {version}, not {asn1.SES_VERSION}")
    return seal


def lists_user(seal: asn1.SESeal, cert: SM2Certificate) -> bool:
    """True when the seal's list names ``cert``: by its DER (``certListType`` 1) or by a digest (2)."""
    der = cert.to_der()
    prop = seal["e_seal_info"]["property"]
    if prop["cert_list_type"].native == CERT_LIST_CERTS:
        return der in seal_users(seal)
    for digest in asn1.CertDigestList.load(prop["cert_list"].dump()):
        algorithm = _DIGESTS.get(digest["type"].native.lower().replace("-", ""))
        if algorithm is not None and algorithm(der) == digest["value"].native:
            return True
    return False


def seal_users(seal: asn1.SESeal) -> list[bytes]:
    """The DER certificates a seal lists (``certListType`` 1); digest lists give an empty list."""
    prop = seal["e_seal_info"]["property"]
    if prop["cert_list_type"].native != CERT_LIST_CERTS:
        return []
    return [bytes(c.native) for c in asn1.CertInfoList.load(prop["cert_list"].dump())]


def sign_document(
    seal_der: bytes,
    signature_xml: bytes,
    property_info: str,
    key: SM2PrivateKey,
    cert: SM2Certificate,
    *,
    at: datetime,
) -> bytes:
    """The DER SES_Signature v4 by which ``cert`` (listed in the seal) seals ``signature_xml`` at ``property_info``."""
    if key.public_key != cert.public_key:
        raise OfdError("the signer's key does not match the signer's certificate")
    if at.utcoffset() is None:
        raise OfdError("the signing time must be timezone-aware")
    seal = load_seal(seal_der)
    if not lists_user(seal, cert):
        raise OfdError("the signer's certificate is not one of the seal's users")
    if not property_info.isascii():
        raise OfdError("property_info must be an ASCII path")
    to_sign = asn1.TBSSign(
        {
            "version": asn1.SES_VERSION,
            "eseal": seal,
            "time_info": _time(at),
            "data_hash": sm3(signature_xml),
            "property_info": property_info,
        }
    )
    signature = asn1.SESSignature(
        {
            "to_sign": to_sign,
            "cert": cert.to_der(),
            "signature_alg_id": SM3_WITH_SM2,
            "signature": key.sign(to_sign.dump()),
        }
    )
    return bytes(signature.dump())
