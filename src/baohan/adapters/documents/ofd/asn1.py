# mypy: disable-error-code="misc"
# (asn1crypto is untyped, so every class here subclasses Any.)
# ruff: noqa: RUF012 - asn1crypto reads _fields and _alternatives as lists it may amend
"""GB/T 38540-2020 electronic seal structures (SESeal and SES_Signature, version 4) for asn1crypto.

Field names follow the standard. Readers keep what they parse byte for byte (asn1crypto re-emits the
bytes it read), so a signature is checked over the encoding the signer produced, even where that
encoding is not canonical DER (the tax bureau's seals spell out ``critical FALSE``); everything we build
is canonical DER.
"""

from __future__ import annotations

from asn1crypto import core

from baohan.gm import oids as _gm_oids  # noqa: F401 - teaches asn1crypto the SM OIDs (sm3_sm2) first

SES_VERSION = 4
HEADER_ID = "ES"


class ExtData(core.Sequence):
    """One extension: an OID, whether it is critical, and its value."""

    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):
    """Extensions of a seal or a signature."""

    _child_spec = ExtData


class SESHeader(core.Sequence):
    """``ES``, the format version (4) and the maker's vendor id."""

    _fields = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertInfoList(core.SequenceOf):
    """The DER certificates of the people allowed to use the seal."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):
    """A certificate named by its digest instead of included."""

    _fields = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):
    """Certificates named by digest (``certListType`` 2)."""

    _child_spec = CertDigestObj


class SESCertList(core.Choice):
    """Who may use the seal: certificates (``certListType`` 1) or their digests (2); both are untagged
    SEQUENCE OFs, so ``certListType`` says which one the bytes are."""

    _alternatives = [("certs", CertInfoList)]


class SESESPropertyInfo(core.Sequence):
    """The seal's kind, name, certificate list and validity."""

    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]


class SESESPictureInfo(core.Sequence):
    """The seal's picture (``PNG``, ``ofd``, …), its bytes and its size in millimetres."""

    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class SESSealInfo(core.Sequence):
    """What the seal maker signs: header, seal id, properties, picture, extensions."""

    _fields = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", SESESPropertyInfo),
        ("picture", SESESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESeal(core.Sequence):
    """An electronic seal: its information, the maker's certificate, algorithm and signature."""

    _fields = [
        ("e_seal_info", SESSealInfo),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class TBSSign(core.Sequence):
    """What the seal's user signs: version 4, the seal, the time, the document hash and its path."""

    _fields = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"optional": True}),
    ]


class SESSignature(core.Sequence):
    """A GB/T 38540 electronic signature (SignedValue.dat of an OFD seal)."""

    _fields = [
        ("to_sign", TBSSign),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
    ]
