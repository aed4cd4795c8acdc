"""SM2 certificates: make a CA, issue, read back every field, verify against the issuer, refuse forgeries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509

from baohan.gm import (
    CertificateError,
    SM2Certificate,
    SM2PrivateKey,
    issue_certificate,
    make_ca,
    oids,
    parse_name,
)

CA_KEY = SM2PrivateKey.generate()
CA = make_ca("CN=baohan 测试 CA,O=baohan,C=CN", CA_KEY, days=3650)


def _leaf(
    subject: str = "CN=某某建设有限公司,O=某某建设有限公司,C=CN", days: int = 365
) -> tuple[SM2PrivateKey, SM2Certificate]:
    key = SM2PrivateKey.generate()
    return key, issue_certificate(CA, CA_KEY, subject, key.public_key, days=days)


def test_ca_is_self_signed_and_a_ca() -> None:
    CA.verify_issued_by(CA)
    info = CA.info()
    assert info.is_ca and info.subject_cn == "baohan 测试 CA" and info.issuer == info.subject


def test_issued_certificate_fields_read_back() -> None:
    key, cert = _leaf(days=365)
    info = cert.info()
    assert info.subject_cn == "某某建设有限公司"
    assert info.issuer_cn == "baohan 测试 CA"
    assert "C=CN" in info.subject and "O=某某建设有限公司" in info.subject
    assert info.serial == format(cert.serial_number, "X") and cert.serial_number > 0
    assert info.not_before.tzinfo is not None
    assert timedelta(days=364) < info.not_after - info.not_before <= timedelta(days=366)
    assert not info.is_ca
    assert cert.public_key == key.public_key
    assert info.as_dict()["not_after"].endswith("+00:00")


def test_certificate_verifies_against_its_ca_and_is_valid_now() -> None:
    _, cert = _leaf()
    cert.verify_issued_by(CA, at=datetime.now(UTC))


def test_serials_are_unique() -> None:
    assert len({_leaf()[1].serial_number for _ in range(20)}) == 20


def test_pem_and_der_round_trip() -> None:
    _, cert = _leaf()
    assert SM2Certificate.load(cert.to_pem()) == cert
    assert SM2Certificate.load(cert.to_der()) == cert
    assert SM2Certificate.load(cert.to_pem().encode()) == cert


def test_signature_algorithm_is_sm3_with_sm2_and_key_is_on_sm2_curve() -> None:
    _, cert = _leaf()
    parsed = x509.Certificate.load(cert.to_der())
    assert parsed["signature_algorithm"]["algorithm"].dotted == oids.SM3_WITH_SM2
    spki = parsed["tbs_certificate"]["subject_public_key_info"]["algorithm"]
    assert spki["algorithm"].dotted == oids.EC_PUBLIC_KEY
    assert spki["parameters"].chosen.dotted == oids.SM2_CURVE


def test_another_ca_with_the_same_name_is_refused() -> None:
    impostor_key = SM2PrivateKey.generate()
    impostor = make_ca("CN=baohan 测试 CA,O=baohan,C=CN", impostor_key)
    _, cert = _leaf()
    with pytest.raises(CertificateError, match="does not verify"):
        cert.verify_issued_by(impostor)


def test_a_different_issuer_name_is_refused() -> None:
    other = make_ca("CN=Other CA", SM2PrivateKey.generate())
    _, cert = _leaf()
    with pytest.raises(CertificateError, match="issuer name differs"):
        cert.verify_issued_by(other)


def test_an_end_entity_cannot_issue() -> None:
    key, leaf = _leaf()
    with pytest.raises(CertificateError, match="not a CA"):
        issue_certificate(leaf, key, "CN=x", SM2PrivateKey.generate().public_key)


def test_ca_key_must_match_ca_certificate() -> None:
    with pytest.raises(CertificateError, match="does not match"):
        issue_certificate(CA, SM2PrivateKey.generate(), "CN=x", SM2PrivateKey.generate().public_key)


def test_tampered_certificate_is_refused() -> None:
    _, cert = _leaf("CN=Alice")
    der = bytearray(cert.to_der())
    pos = der.find(b"Alice")
    der[pos] = ord("M")
    with pytest.raises(CertificateError, match="does not verify"):
        SM2Certificate(bytes(der)).verify_issued_by(CA)


def test_expired_or_not_yet_valid_is_refused() -> None:
    _, cert = _leaf(days=1)
    with pytest.raises(CertificateError, match="not valid at"):
        cert.verify_issued_by(CA, at=datetime.now(UTC) + timedelta(days=2))
    with pytest.raises(CertificateError, match="not valid at"):
        cert.verify_issued_by(CA, at=datetime.now(UTC) - timedelta(days=1))


def test_validity_past_2049_uses_generalized_time() -> None:
    cert = make_ca("CN=Long CA", SM2PrivateKey.generate(), now=datetime(2049, 12, 1, tzinfo=UTC), days=90)
    assert cert.not_after.year == 2050
    cert.verify_issued_by(cert)


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("O=no common name", "needs a CN"),
        ("CN=x,XX=y", "not one of"),
        ("CN=x,C=CHN", "two-letter"),
        ("CN", "not one of"),
    ],
)
def test_bad_subjects_say_why(subject: str, message: str) -> None:
    with pytest.raises(CertificateError, match=message):
        parse_name(subject)


def test_escaped_comma_in_a_subject_value() -> None:
    assert parse_name(r"CN=Li\, Lei").native["common_name"] == "Li, Lei"


@pytest.mark.parametrize(
    "blob", [b"", b"not a certificate", b"\x30\x03\x02\x01\x01", "-----BEGIN PUBLIC KEY-----"]
)
def test_garbage_is_refused(blob: bytes | str) -> None:
    with pytest.raises(CertificateError):
        SM2Certificate.load(blob)


def test_non_sm2_certificate_is_refused() -> None:
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "p256")])
    now = datetime.now(UTC)
    cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(CertificateError, match="not SM2"):
        SM2Certificate.load(cert.public_bytes(serialization.Encoding.DER))
