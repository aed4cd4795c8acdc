"""SM2 X.509 certificates: a test CA, end-entity certificates, reading and verifying any SM2 certificate.

Certificates are signed SM3withSM2 (1.2.156.10197.1.501) with the default user ID, as GM/T 0015 asks,
and carry their key as id-ecPublicKey on the sm2p256v1 curve, as OpenSSL 3 and BouncyCastle write them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import pem, x509

from baohan.gm import oids
from baohan.gm.codec import from_base64, unarmor
from baohan.gm.errors import CertificateError, EncodingError, InvalidKeyError
from baohan.gm.sm2 import SM2PrivateKey, SM2PublicKey

_SHORT_NAMES = {
    "CN": "common_name",
    "O": "organization_name",
    "OU": "organizational_unit_name",
    "C": "country_name",
    "ST": "state_or_province_name",
    "L": "locality_name",
    "SERIALNUMBER": "serial_number",
    "EMAILADDRESS": "email_address",
    "E": "email_address",
}
_LONG_TO_SHORT = {v: k for k, v in _SHORT_NAMES.items() if k not in ("E",)}
_LONG_TO_SHORT["serial_number"] = "serialNumber"
_LONG_TO_SHORT["email_address"] = "emailAddress"
_SPLIT = re.compile(r"(?<!\\),")
_END_ENTITY_USAGE = frozenset(
    {"digital_signature", "non_repudiation", "key_encipherment", "data_encipherment"}
)


def parse_name(text: str) -> x509.Name:
    """An X.509 name from ``CN=…,O=…,C=CN`` (commas inside a value escaped as ``\\,``); UTF-8 values."""
    attrs: dict[str, str] = {}
    for part in _SPLIT.split(text):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        name = _SHORT_NAMES.get(key.strip().upper())
        if not sep or name is None:
            raise CertificateError(f"subject part {part.strip()!r} is not one of CN, O, OU, C, ST, L, E=…")
        attrs[name] = value.strip().replace("\\,", ",")
    if "common_name" not in attrs:
        raise CertificateError("subject needs a CN")
    if "country_name" in attrs and len(attrs["country_name"]) != 2:
        raise CertificateError("subject C must be a two-letter country code")
    return x509.Name.build(attrs, use_printable=False)


def format_name(name: x509.Name) -> str:
    """``C=CN, O=…, CN=…`` in the certificate's own order."""
    parts = []
    for rdn in name.chosen:
        for attr in rdn:
            kind = attr["type"].native
            parts.append(f"{_LONG_TO_SHORT.get(kind, kind)}={attr['value'].native}")
    return ", ".join(parts)


def _common_name(name: x509.Name) -> str:
    value = name.native.get("common_name", "")
    return str(value[-1] if isinstance(value, list) else value)


def _time(moment: datetime) -> x509.Time:
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    return x509.Time({"utc_time" if moment.year < 2050 else "general_time": moment.replace(microsecond=0)})


def _key_id(public_key: SM2PublicKey) -> bytes:
    # RFC 5280 §4.2.1.2 method 1: SHA-1 of the public key bits, an identifier, not a security check.
    return hashlib.sha1(public_key.to_bytes(), usedforsecurity=False).digest()


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What an integrator asks of a certificate (and ELY104 answers with)."""

    serial: str
    subject: str
    subject_cn: str
    issuer: str
    issuer_cn: str
    not_before: datetime
    not_after: datetime
    is_ca: bool
    public_key: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view, times in ISO 8601 with their zone."""
        return {
            "serial": self.serial,
            "subject": self.subject,
            "subject_cn": self.subject_cn,
            "issuer": self.issuer,
            "issuer_cn": self.issuer_cn,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "is_ca": self.is_ca,
            "public_key": self.public_key,
        }


class SM2Certificate:
    """An X.509 certificate whose key is SM2, read from PEM or DER."""

    __slots__ = ("_cert", "_der", "_public_key")

    def __init__(self, der: bytes) -> None:
        try:
            self._cert = x509.Certificate.load(der, strict=True)
            tbs = self._cert["tbs_certificate"]
            tbs.native  # noqa: B018 - forces a full parse so malformed input fails here
            spki = tbs["subject_public_key_info"].dump()
        except (ValueError, TypeError, KeyError):
            raise CertificateError("not a DER X.509 certificate") from None
        try:
            self._public_key = SM2PublicKey.load(bytes(spki))
        except InvalidKeyError as exc:
            raise CertificateError(f"certificate key is not SM2: {exc}") from None
        self._der = der

    @classmethod
    def load(cls, data: str | bytes) -> SM2Certificate:
        """Read a PEM (text or bytes), DER or Base64-DER certificate."""
        blob = data.strip().encode("ascii", "replace") if isinstance(data, str) else data
        if pem.detect(blob):
            kind, der = unarmor(blob, CertificateError)
            if kind != "CERTIFICATE":
                raise CertificateError(f"expected a CERTIFICATE PEM block, got {kind}")
            return cls(der)
        if isinstance(data, str):
            try:
                return cls(from_base64(data, "certificate"))
            except EncodingError:
                raise CertificateError("certificate is neither PEM nor Base64 DER") from None
        return cls(blob)

    @property
    def public_key(self) -> SM2PublicKey:
        """The certified SM2 public key."""
        return self._public_key

    @property
    def serial_number(self) -> int:
        """The serial number as an integer."""
        return int(self._cert.serial_number)

    @property
    def not_before(self) -> datetime:
        """Start of validity (UTC)."""
        return self._cert["tbs_certificate"]["validity"]["not_before"].native  # type: ignore[no-any-return]

    @property
    def not_after(self) -> datetime:
        """End of validity (UTC)."""
        return self._cert["tbs_certificate"]["validity"]["not_after"].native  # type: ignore[no-any-return]

    @property
    def is_ca(self) -> bool:
        """True when basicConstraints says this certificate may issue others."""
        return bool(self._cert.ca)

    @property
    def holder_name(self) -> str:
        """Whom the certificate names: its subject's organisation (O), else its common name (CN)."""
        value = self._cert.subject.native.get("organization_name") or ""
        return str(value[-1] if isinstance(value, list) else value) or _common_name(self._cert.subject)

    def info(self) -> CertificateInfo:
        """Serial (upper hex), subject, issuer, validity and key in one record."""
        return CertificateInfo(
            serial=format(self.serial_number, "X"),
            subject=format_name(self._cert.subject),
            subject_cn=_common_name(self._cert.subject),
            issuer=format_name(self._cert.issuer),
            issuer_cn=_common_name(self._cert.issuer),
            not_before=self.not_before,
            not_after=self.not_after,
            is_ca=self.is_ca,
            public_key=self._public_key.to_hex(),
        )

    def to_der(self) -> bytes:
        """The certificate's DER bytes, exactly as read or issued."""
        return self._der

    def to_pem(self) -> str:
        """PEM ``CERTIFICATE`` block."""
        return bytes(pem.armor("CERTIFICATE", self._der)).decode("ascii")

    def verify_issued_by(self, issuer: SM2Certificate, at: datetime | None = None) -> None:
        """Raise CertificateError unless ``issuer`` (a CA) signed this certificate, valid at ``at`` if given."""
        if self._cert.issuer.hashable != issuer._cert.subject.hashable:
            raise CertificateError("certificate was not issued by this CA (issuer name differs)")
        if not issuer.is_ca:
            raise CertificateError("issuer certificate is not a CA")
        algorithm = self._cert["signature_algorithm"]["algorithm"].dotted
        if algorithm != oids.SM3_WITH_SM2:
            raise CertificateError(f"certificate is not signed SM3withSM2 (algorithm {algorithm})")
        signature = bytes(self._cert["signature_value"])
        if not issuer.public_key.verify(self._cert["tbs_certificate"].dump(), signature, fmt="der"):
            raise CertificateError("certificate signature does not verify against the CA key")
        if at is not None and not (self.not_before <= at <= self.not_after):
            raise CertificateError(f"certificate is not valid at {at.isoformat()}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2Certificate) and other._der == self._der

    def __hash__(self) -> int:
        return hash(self._der)

    def __repr__(self) -> str:
        return f"SM2Certificate({format_name(self._cert.subject)!r}, serial={self.serial_number:X})"


def _build(
    subject: x509.Name,
    public_key: SM2PublicKey,
    issuer_name: x509.Name,
    issuer_key: SM2PrivateKey,
    issuer_key_id: bytes,
    *,
    days: int,
    ca: bool,
    usage: Iterable[str],
    now: datetime | None,
) -> SM2Certificate:
    if days < 1:
        raise CertificateError("validity must be at least one day")
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    extensions: list[Mapping[str, Any]] = [
        {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
        {"extn_id": "key_usage", "critical": True, "extn_value": set(usage)},
        {"extn_id": "key_identifier", "critical": False, "extn_value": _key_id(public_key)},
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": issuer_key_id},
        },
    ]
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": int.from_bytes(os.urandom(16), "big") >> 1 or 1,
            "signature": {"algorithm": "sm3_sm2"},
            "issuer": issuer_name,
            "validity": {"not_before": _time(start), "not_after": _time(start + timedelta(days=days))},
            "subject": subject,
            "subject_public_key_info": public_key.spki(),
            "extensions": extensions,
        }
    )
    signature = issuer_key.sign(tbs.dump())
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sm3_sm2"},
            "signature_value": signature,
        }
    )
    return SM2Certificate(cert.dump())


def make_ca(
    subject: str, key: SM2PrivateKey, *, days: int = 3650, now: datetime | None = None
) -> SM2Certificate:
    """A self-signed SM2 CA certificate for ``subject`` (e.g. ``CN=baohan Test CA,O=baohan,C=CN``)."""
    name = parse_name(subject)
    return _build(
        name,
        key.public_key,
        name,
        key,
        _key_id(key.public_key),
        days=days,
        ca=True,
        usage={"key_cert_sign", "crl_sign", "digital_signature"},
        now=now,
    )


def issue_certificate(
    ca_cert: SM2Certificate,
    ca_key: SM2PrivateKey,
    subject: str,
    public_key: SM2PublicKey,
    *,
    days: int = 730,
    now: datetime | None = None,
) -> SM2Certificate:
    """An end-entity certificate for signing and encryption, signed by the CA."""
    if ca_key.public_key != ca_cert.public_key:
        raise CertificateError("CA private key does not match the CA certificate")
    if not ca_cert.is_ca:
        raise CertificateError("issuer certificate is not a CA")
    return _build(
        parse_name(subject),
        public_key,
        ca_cert._cert.subject,
        ca_key,
        _key_id(ca_cert.public_key),
        days=days,
        ca=False,
        usage=_END_ENTITY_USAGE,
        now=now,
    )
