"""The institution's checks on what a bidder hands back: K against applydata, the signed agreement."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import SM2PrivateKey, SM4Mode, sm4_encrypt
from baohan.protocols.tender.agreement import render_agreement, verify_agreement_signature
from baohan.protocols.tender.bidder import BidderError, accept_opened_key
from tests.tender.bidder_kit import PLAIN_PROJECT, make_bidder, seal_application


@pytest.fixture(scope="module")
def bidder():
    return make_bidder()


def test_the_right_key_opens_the_application_with_project_fields_still_sealed(bidder) -> None:
    sealed = seal_application(bidder)
    opened = accept_opened_key(sealed.applydata, sealed.key.hex().upper())
    assert opened.key == sealed.key
    assert opened.readable() == {
        "biddername": "投标人甲建设有限公司",
        "biddercode": "91330106MA27XXXX0K",
        "bzjamount": "80000.00",
    }
    assert opened.sealed() == {name: sealed.application[name] for name in PLAIN_PROJECT}
    assert not any(
        plain in json.dumps(opened.sealed(), ensure_ascii=False) for plain in PLAIN_PROJECT.values()
    )
    assert opened.bzjamount == Decimal("80000.00")


def test_a_wrong_key_is_refused_naming_the_key(bidder) -> None:
    sealed = seal_application(bidder)
    wrong = bytes(b ^ 1 for b in sealed.key)
    with pytest.raises(BidderError) as caught:
        accept_opened_key(sealed.applydata, wrong.hex())
    assert caught.value.field == "key"
    assert "does not open applydata" in str(caught.value)


@pytest.mark.parametrize("text", ["", "00" * 15, "zz" * 16, "00" * 17])
def test_a_key_that_is_not_32_hex_digits_is_refused(bidder, text: str) -> None:
    with pytest.raises(BidderError, match=r"^key: must be 32 hexadecimal"):
        accept_opened_key(seal_application(bidder).applydata, text)


def _applydata(key: bytes, payload: bytes) -> str:
    return base64.b64encode(sm4_encrypt(key, payload, SM4Mode.ECB)).decode()


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (b"\xff\xfe not json", "key", "not the application's JSON"),
        (b"[1, 2]", "key", "not an object"),
        (json.dumps({"biddername": "x"}).encode(), "application.biddercode", "required"),
        (
            json.dumps(
                {
                    "biddername": "a",
                    "biddercode": "b",
                    "biaoduanno": "c",
                    "biaoduanname": "d",
                    "zbr": "e",
                    "bzjamount": "-1",
                }
            ).encode(),
            "application.bzjamount",
            "not negative",
        ),
    ],
)
def test_what_k_opens_must_be_the_application(payload: bytes, field: str, reason: str) -> None:
    key = bytes(range(16))
    with pytest.raises(BidderError) as caught:
        accept_opened_key(_applydata(key, payload), key.hex())
    assert caught.value.field == field and reason in str(caught.value)


def test_an_amount_sent_as_a_json_number_keeps_its_digits() -> None:
    key = bytes(range(16))
    fields = {"biddername": "a", "biddercode": "b", "biaoduanno": "c", "biaoduanname": "d", "zbr": "e"}
    payload = json.dumps(fields)[:-1].encode() + b', "bzjamount": 80000.10}'
    assert accept_opened_key(_applydata(key, payload), key.hex()).readable()["bzjamount"] == "80000.10"


def test_applydata_that_is_not_base64_is_refused() -> None:
    with pytest.raises(BidderError, match=r"^applydata: is not Base64"):
        accept_opened_key("not base64!", "00" * 16)


# --- the agreement ---


def _agreement(sealed) -> bytes:
    return render_agreement(
        sealed.applyno, accept_opened_key(sealed.applydata, sealed.key.hex()).fields, "某担保有限公司"
    )


def test_the_agreement_is_deterministic_and_shows_project_fields_only_sealed(bidder) -> None:
    sealed = seal_application(bidder)
    text = _agreement(sealed)
    assert text == _agreement(sealed)
    decoded = text.decode("utf-8")
    assert sealed.applyno in decoded and "投标人甲建设有限公司" in decoded and "80000.00" in decoded
    assert sealed.application["biaoduanname"] in decoded
    assert not any(plain in decoded for plain in PLAIN_PROJECT.values())


def test_a_line_break_in_a_field_cannot_forge_a_clause() -> None:
    with pytest.raises(BidderError, match=r"^application.biddername: must not contain"):
        render_agreement("A-1", {"biddername": "甲\n五、担保机构放弃追偿。", "bzjamount": "1"}, "某担保")


def test_a_der_signature_by_the_certificate_key_verifies(bidder) -> None:
    text = _agreement(seal_application(bidder))
    signature = base64.b64encode(bidder.key.sign(text)).decode()
    got = verify_agreement_signature(text, bidder.certificate.to_pem(), signature, trusted=[bidder.ca])
    assert got == bidder.certificate


def test_sm_crypto_hex_forms_verify_too(bidder) -> None:
    text = _agreement(seal_application(bidder))
    for fmt in ("der", "raw"):
        signature = bidder.key.sign(text, fmt=fmt).hex()
        assert verify_agreement_signature(text, bidder.certificate.to_pem(), signature) == bidder.certificate


def test_a_signature_over_other_bytes_or_by_another_key_is_refused(bidder) -> None:
    text = _agreement(seal_application(bidder))
    for signature in (bidder.key.sign(text + b" "), SM2PrivateKey.generate().sign(text)):
        with pytest.raises(BidderError) as caught:
            verify_agreement_signature(
                text, bidder.certificate.to_pem(), base64.b64encode(signature).decode()
            )
        assert caught.value.field == "signature"


def test_a_signature_that_is_neither_base64_nor_hex_is_refused(bidder) -> None:
    with pytest.raises(BidderError, match=r"^signature: is neither Base64 DER nor hex"):
        verify_agreement_signature(b"x", bidder.certificate.to_pem(), "***")


def test_a_certificate_that_is_not_one_is_refused() -> None:
    with pytest.raises(BidderError, match=r"^certificate: "):
        verify_agreement_signature(b"x", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "00")


def test_an_expired_certificate_is_refused(bidder) -> None:
    text = b"agreement"
    signature = base64.b64encode(bidder.key.sign(text)).decode()
    later = datetime.now(UTC) + timedelta(days=3650)
    with pytest.raises(BidderError, match=r"^certificate: is not valid now"):
        verify_agreement_signature(text, bidder.certificate.to_pem(), signature, at=later)


def test_a_certificate_from_an_untrusted_ca_is_refused(bidder) -> None:
    other = make_bidder()
    text = b"agreement"
    signature = base64.b64encode(bidder.key.sign(text)).decode()
    with pytest.raises(BidderError, match=r"^certificate: is not issued by a trusted bidder CA"):
        verify_agreement_signature(text, bidder.certificate.to_pem(), signature, trusted=[other.ca])


_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40)


@given(applyno=_TEXT, name=_TEXT, code=_TEXT, sealed=_TEXT)
def test_every_value_stays_on_its_own_line(applyno: str, name: str, code: str, sealed: str) -> None:
    fields = {"biddername": name, "biddercode": code, "bzjamount": "1.00", "zbr": sealed}
    lines = render_agreement(applyno, fields, "某担保").decode("utf-8").split("\n")
    assert lines[2] == f"申请编号：{applyno}" and lines[4] == f"投标人名称：{name}"
    assert lines[5] == f"统一社会信用代码：{code}" and lines[7] == f"招标人（密文）：{sealed}"
    assert len(lines) == 14


@given(name=_TEXT, control=st.sampled_from(["\n", "\r", "\x00", "\x1b", "\u2028", "\u2029", "\x7f", "\x85"]))
def test_any_control_character_is_refused(name: str, control: str) -> None:
    with pytest.raises(BidderError, match=r"^application.biddername: "):
        render_agreement("A-1", {"biddername": name + control, "bzjamount": "1"}, "某担保")
