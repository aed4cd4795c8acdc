"""Tender sealed values: applydata + digitalenvelope, sealed bid-section fields, project key text, file key/iv."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import Layout, SM2PrivateKey, sm4_encrypt
from baohan.protocols.tender.sealing import (
    SEALED_FIELDS,
    SealingError,
    decode_key,
    encode_key,
    new_project_key,
    open_application,
    open_envelope,
    open_file_secret,
    open_project_field,
    open_project_fields,
    seal_application,
    seal_file_secret,
    seal_project_field,
    seal_project_fields,
)

BIDDER = SM2PrivateKey.generate()
PLATFORM = SM2PrivateKey.generate()
OTHER = SM2PrivateKey.generate()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
applications = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
forms = st.tuples(st.sampled_from(list(Layout)), st.booleans(), st.sampled_from(["base64", "hex"]))


@given(applications, forms)
def test_application_round_trips(application: dict[str, object], form: tuple[Layout, bool, str]) -> None:
    layout, prefix, encoding = form
    applydata, envelope = seal_application(
        application,
        BIDDER.public_key,
        layout=layout,
        prefix=prefix,
        encoding=encoding,  # type: ignore[arg-type]
    )
    # The bidder knows its profile, or reads any form: both open it.
    key = open_envelope(envelope, BIDDER, layout=layout, prefix=prefix, encoding=encoding)  # type: ignore[arg-type]
    assert open_envelope(envelope, BIDDER) == key
    assert open_application(applydata, key) == application


def test_default_bytes_are_the_product_table() -> None:
    application = {"applyno": "A-1", "zbr": "招标人"}
    applydata, envelope = seal_application(application, BIDDER.public_key)
    sealed = base64.b64decode(envelope, validate=True)
    assert sealed[0] == 0x04 and len(sealed) == 1 + 64 + 32 + 16  # C1C3C2 with 04, over a raw 16-byte K
    key = BIDDER.decrypt(sealed, layout=Layout.C1C3C2, prefix=True)
    raw = json.dumps(application, ensure_ascii=False, separators=(",", ":")).encode()
    assert base64.b64decode(applydata) == sm4_encrypt(key, raw, "ecb")


def test_envelope_sealed_as_hex_text_opens() -> None:
    key = os.urandom(16)
    # Many Java peers seal the key's hex string instead of its bytes.
    envelope = base64.b64encode(BIDDER.public_key.encrypt(key.hex().encode())).decode()
    assert open_envelope(envelope, BIDDER) == key


@pytest.mark.parametrize(
    ("envelope", "message"),
    [
        ("", "digitalenvelope: missing"),
        (
            "@@not base64@@",
            "digitalenvelope: does not open with our SM2 key (digitalenvelope is not valid Base64)",
        ),
        ("AAAA", "digitalenvelope: does not open with our SM2 key (not an SM2 ciphertext"),
    ],
)
def test_unreadable_envelope_is_refused_by_name(envelope: str, message: str) -> None:
    with pytest.raises(SealingError, match="^" + re.escape(message)):
        open_envelope(envelope, BIDDER)


def test_envelope_for_another_key_is_refused() -> None:
    _, envelope = seal_application({"a": 1}, OTHER.public_key)
    with pytest.raises(SealingError, match=r"^digitalenvelope: does not open with our SM2 key") as caught:
        open_envelope(envelope, BIDDER)
    assert caught.value.field == "digitalenvelope"


def test_applydata_under_a_wrong_key_is_refused() -> None:
    applydata, _ = seal_application({"applyno": "A-1"}, BIDDER.public_key)
    for _ in range(20):  # a wrong key may, once in 256, unpad to garbage: then it is not JSON
        with pytest.raises(SealingError, match=r"^applydata: ") as caught:
            open_application(applydata, os.urandom(16))
        assert caught.value.field == "applydata"


@pytest.mark.parametrize(
    ("plain", "message"),
    [
        (b"not json", "applydata: decrypts, but not to UTF-8 JSON"),
        (b"\xff\xfe", "applydata: decrypts, but not to UTF-8 JSON"),
        (b"[1, 2]", "applydata: decrypts to JSON list, not an object"),
    ],
)
def test_applydata_that_is_not_a_json_object_is_refused(plain: bytes, message: str) -> None:
    key = os.urandom(16)
    applydata = base64.b64encode(sm4_encrypt(key, plain, "ecb")).decode()
    with pytest.raises(SealingError, match=r"^" + message):
        open_application(applydata, key)


def test_applydata_bad_base64_and_bad_padding() -> None:
    key = os.urandom(16)
    with pytest.raises(SealingError, match=r"^applydata: .*not valid Base64"):
        open_application("***", key)
    unpadded = base64.b64encode(sm4_encrypt(key, b"x" * 16, "ecb", pad=False)).decode()
    with pytest.raises(SealingError, match=r"^applydata: does not decrypt under its key .*padding"):
        open_application(unpadded, key)
    with pytest.raises(SealingError, match=r"^applydata: missing"):
        open_application("", key)


@given(st.text(), st.binary(min_size=16, max_size=16))
def test_project_field_round_trips(value: str, key: bytes) -> None:
    sealed = seal_project_field(value, key)
    assert base64.b64decode(sealed) == sm4_encrypt(key, value.encode(), "ecb")
    assert open_project_field(sealed, key, "zbr") == value


@given(
    st.fixed_dictionaries({name: st.text(min_size=1) for name in SEALED_FIELDS[:3]}),
    st.one_of(st.none(), st.just(""), st.text(min_size=1)),
)
def test_project_fields_round_trip(fields: dict[str, str], orgnum: str | None) -> None:
    key = new_project_key()
    application = {"applyno": "A-1", "amount": "100.00", **fields}
    if orgnum is not None:
        application["zbrorgnum"] = orgnum
    sealed = seal_project_fields(application, key)
    assert sealed["applyno"] == "A-1" and sealed["amount"] == "100.00"
    for name in fields:
        assert sealed[name] != fields[name] and open_project_field(sealed[name], key, name) == fields[name]
    if orgnum:
        assert open_project_field(sealed["zbrorgnum"], key, "zbrorgnum") == orgnum != sealed["zbrorgnum"]
    else:
        assert sealed.get("zbrorgnum") == orgnum  # absent or empty: left as it is
    assert open_project_fields(sealed, key) == application


def test_project_fields_refusals_name_the_field() -> None:
    key = new_project_key()
    with pytest.raises(SealingError, match=r"^biaoduanname: missing"):
        seal_project_fields({"biaoduanno": "1", "zbr": "x"}, key)
    with pytest.raises(SealingError, match=r"^zbr: must be a string, got int"):
        seal_project_fields({"biaoduanno": "1", "biaoduanname": "n", "zbr": 5}, key)
    sealed = seal_project_fields({"biaoduanno": "1", "biaoduanname": "n", "zbr": "z"}, key)
    with pytest.raises(SealingError, match=r"^biaoduanno: does not decrypt under its key"):
        open_project_fields(
            {**sealed, "biaoduanno": seal_project_field("1", os.urandom(16))[:-4] + "AAA="}, key
        )
    with pytest.raises(SealingError, match=r"^zbr: .*not valid Base64"):
        open_project_fields({**sealed, "zbr": "!!"}, key)


@given(st.binary(min_size=16, max_size=16))
def test_hex_key_text_round_trips(key: bytes) -> None:
    text = encode_key(key)
    assert text == key.hex() and len(text) == 32 and text == text.lower()
    assert decode_key(text) == key and decode_key(text.upper()) == key


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=16, max_size=16))
def test_ascii_key_text_round_trips(text: str) -> None:
    key = decode_key(text, "ascii")
    assert key == text.encode() and encode_key(key, "ascii") == text


def test_new_ascii_project_key_is_printable() -> None:
    key = new_project_key("ascii")
    assert len(key) == 16 and decode_key(encode_key(key, "ascii"), "ascii") == key
    assert len({new_project_key("ascii") for _ in range(50)}) == 50


@pytest.mark.parametrize(
    ("text", "form", "message"),
    [
        ("abc", "hex", "key: must be 32 hex characters, got 3 characters"),
        ("g" * 32, "hex", "key: must be 32 hex characters, got 32 characters"),
        ("0" * 33, "hex", "key: must be 32 hex characters, got 33 characters"),
        ("short", "ascii", "key: must be 16 printable ASCII characters, got 5 characters"),
        ("é" * 16, "ascii", "key: must be 16 printable ASCII characters, got 16 characters"),
        ("with space 12345", "ascii", "key: must be 16 printable ASCII characters"),
    ],
)
def test_bad_key_text_is_refused_by_name(text: str, form: str, message: str) -> None:
    with pytest.raises(SealingError, match=r"^" + message):
        decode_key(text, form)  # type: ignore[arg-type]


def test_encode_key_refuses_what_it_cannot_write() -> None:
    with pytest.raises(SealingError, match=r"^key: a project key is 16 bytes, got 15"):
        encode_key(b"x" * 15)
    with pytest.raises(SealingError, match=r"^key: .*not printable ASCII"):
        encode_key(b"\x00" * 16, "ascii")


@given(st.binary(min_size=16, max_size=16), forms)
def test_file_secret_round_trips(value: bytes, form: tuple[Layout, bool, str]) -> None:
    layout, prefix, encoding = form
    text = seal_file_secret(value, PLATFORM.public_key, layout=layout, prefix=prefix, encoding=encoding)  # type: ignore[arg-type]
    assert open_file_secret(text, PLATFORM, "iv") == value
    assert open_file_secret(text, PLATFORM, "key", layout=layout, prefix=prefix, encoding=encoding) == value  # type: ignore[arg-type]


def test_file_secret_defaults_and_refusals() -> None:
    value = os.urandom(16)
    text = seal_file_secret(value, PLATFORM.public_key)
    raw = base64.b64decode(text, validate=True)
    assert raw[0] == 0x04 and PLATFORM.decrypt(raw, layout=Layout.C1C3C2, prefix=True) == value
    assert len(text) <= 200  # the spec's field length
    with pytest.raises(SealingError, match=r"^iv: does not open with our SM2 key"):
        open_file_secret(text, OTHER, "iv")
    with pytest.raises(SealingError, match=r"^key: missing"):
        open_file_secret("", PLATFORM, "key")
    with pytest.raises(SealingError, match=r"^key: a file key or iv is 16 bytes, got 3"):
        seal_file_secret(b"abc", PLATFORM.public_key)
