"""GB/T 38540 seals and signatures in asn1crypto: strict DER that reads back to what was written, signed by
whom it should be."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.adapters.documents.ofd import OfdError, SealSpec, asn1, make_seal
from baohan.adapters.documents.ofd.ses import load_seal, seal_users, sign_document
from baohan.gm import SM2PrivateKey, sm3
from baohan.gm.oids import SM3_WITH_SM2
from tests.documents.ofd.conftest import NOW, SealKit, make_kit

KIT = make_kit()
PNG = b"\x89PNG\r\n\x1a\n"


def _canonical(value: asn1.core.Asn1Value, der: bytes) -> bool:
    """True when re-encoding the parsed value from scratch gives the same bytes: the input was DER."""
    return bytes(type(value).load(der).dump(force=True)) == der


def _spec(**changes: object) -> SealSpec:
    spec = SealSpec(
        es_id="11010000000042",
        name="示例融资担保股份有限公司保函专用章",
        picture_png=KIT.picture,
        users=[KIT.user.cert],
        valid_from=NOW,
        valid_to=NOW + timedelta(days=30),
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


@given(
    es_id=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40),
    name=st.text(st.characters(categories=("L", "N", "Zs")), min_size=1, max_size=40).filter(str.strip),
    picture=st.binary(max_size=2000).map(lambda b: PNG + b),
    size=st.tuples(st.integers(1, 999), st.integers(1, 999)),
    valid_from=moments,
    days=st.integers(1, 4000),
    seal_type=st.integers(1, 3),
)
def test_a_seal_reads_back_as_written_in_strict_der(
    es_id: str,
    name: str,
    picture: bytes,
    size: tuple[int, int],
    valid_from: datetime,
    days: int,
    seal_type: int,
) -> None:
    spec = _spec(
        es_id=es_id,
        name=name,
        picture_png=picture,
        picture_size_mm=size,
        valid_from=valid_from,
        valid_to=valid_from + timedelta(days=days),
        seal_type=seal_type,
    )
    der = make_seal(spec, KIT.maker.key, KIT.maker.cert, created=valid_from)
    assert _canonical(asn1.SESeal(), der)
    seal = load_seal(der)
    info = seal["e_seal_info"]
    assert info["header"].native == {"id": "ES", "version": 4, "vid": "baohan"}
    assert info["es_id"].native == es_id
    prop = info["property"]
    assert (prop["type"].native, prop["name"].native, prop["cert_list_type"].native) == (seal_type, name, 1)
    assert prop["valid_start"].native == valid_from.replace(microsecond=0)
    assert prop["valid_end"].native == (valid_from + timedelta(days=days)).replace(microsecond=0)
    assert info["picture"].native == {"type": "PNG", "data": picture, "width": size[0], "height": size[1]}
    assert seal_users(seal) == [KIT.user.cert.to_der()]
    assert seal["sign_alg_id"].dotted == SM3_WITH_SM2
    assert KIT.maker.cert.public_key.verify(info.dump(), seal["signed_value"].native)


@given(
    signature_xml=st.binary(min_size=1, max_size=4000),
    path=st.from_regex(r"/Doc_0/Signs/Sign_[0-9]{1,3}/Signature\.xml", fullmatch=True),
    at=moments,
)
def test_a_signature_reads_back_as_written_in_strict_der(
    signature_xml: bytes, path: str, at: datetime
) -> None:
    der = sign_document(KIT.seal, signature_xml, path, KIT.user.key, KIT.user.cert, at=at)
    assert _canonical(asn1.SESSignature(), der)
    signature = asn1.SESSignature.load(der, strict=True)
    to_sign = signature["to_sign"]
    assert to_sign["version"].native == 4
    assert to_sign["eseal"].dump() == KIT.seal
    assert to_sign["time_info"].native == at.replace(microsecond=0)
    assert to_sign["data_hash"].native == sm3(signature_xml)
    assert to_sign["property_info"].native == path
    assert signature["cert"].native == KIT.user.cert.to_der()
    assert signature["signature_alg_id"].dotted == SM3_WITH_SM2
    assert KIT.user.cert.public_key.verify(to_sign.dump(), signature["signature"].native, fmt="der")
    assert signature["time_stamp"].native is None


def test_only_a_listed_certificate_with_its_own_key_may_use_the_seal(kit: SealKit) -> None:
    stranger = make_kit("另一家担保公司")
    with pytest.raises(OfdError, match="not one of the seal's users"):
        sign_document(kit.seal, b"<x/>", "/x", stranger.user.key, stranger.user.cert, at=NOW)
    with pytest.raises(OfdError, match="does not match"):
        sign_document(kit.seal, b"<x/>", "/x", SM2PrivateKey.generate(), kit.user.cert, at=NOW)
    with pytest.raises(OfdError, match="does not match"):
        make_seal(_spec(), SM2PrivateKey.generate(), kit.maker.cert, created=NOW)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"es_id": "印章"}, "es_id"),
        ({"picture_png": b"GIF89a"}, "PNG"),
        ({"users": []}, "at least one certificate"),
        ({"valid_to": NOW - timedelta(days=1)}, "end after it starts"),
        ({"valid_from": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_a_bad_seal_spec_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(OfdError, match=message):
        _spec(**changes)


def test_load_seal_refuses_what_is_not_a_v4_seal(kit: SealKit) -> None:
    with pytest.raises(OfdError, match="not a GB/T 38540 seal"):
        load_seal(b"\x30\x03\x02\x01\x04")
    seal = asn1.SESeal.load(kit.seal)
    info = seal["e_seal_info"].copy()
    info["header"]["version"] = 3
    older = asn1.SESeal(
        {**{k: seal[k] for k in ("cert", "sign_alg_id", "signed_value")}, "e_seal_info": info}
    )
    with pytest.raises(OfdError, match="version 3"):
        load_seal(older.dump())
