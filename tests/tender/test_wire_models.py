"""The tender models: every table of spec 004 as the models hold it, amounts exactly, and applydata."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.protocols.fields import MessageInvalid, validate_wire
from baohan.protocols.tender import models
from baohan.protocols.tender.tables import INTERFACES, ISSUER_SERVES, PLATFORM_SERVES, table

# Spec 004, transcribed from its tables: field → (length, required). A length of None is a field we check
# by its format (timestamps, amounts, choices, Base64, the slice index) or one the spec leaves unbounded.
COMMON = {"appkey": (50, True), "timestamp": (None, True), "sign": (200, True)}
PLATFORM = {**COMMON, "platformcode": (50, True)}
APPLY, GUARANTEE = {"applyno": (50, True)}, {"applyno": (50, True), "baohanno": (50, True)}
BAK = {"bak1": (200, False), "bak2": (200, False)}
SPEC = {
    "baohanapply": {**PLATFORM, **APPLY, "applydata": (2000, True), "digitalenvelope": (200, True)},
    "baohannotice": {
        **COMMON,
        **GUARANTEE,
        "payername": (200, False),
        "payeraccount": (50, False),
        "instname": (200, True),
        "generatetime": (None, True),
        "rate": (None, True),
        "cost": (None, True),
        "applystatus": (None, True),
    },
    "downloadpublickey": {**COMMON, **APPLY, **BAK},
    "uploadbaohanfile": {
        **COMMON,
        **GUARANTEE,
        "baohanfile": (None, True),
        "filetype": (None, True),
        "index": (None, True),
        **BAK,
    },
    "baohanfilecompletenotice": {
        **COMMON,
        **GUARANTEE,
        "key": (200, True),
        "iv": (200, True),
        "baohanfilemd5": (200, True),
        "filetype": (None, True),
        **BAK,
    },
    "baohanrestore": {**PLATFORM, **GUARANTEE, "kaibiaotime": (None, True), "key": (200, True)},
    "invoiceapply": {
        **PLATFORM,
        **GUARANTEE,
        "biddername": (200, True),
        "biddercode": (50, True),
        "amount": (None, True),
        "type": (None, True),
        "address": (500, False),
        "phone": (50, False),
        "bank": (200, False),
        "account": (50, False),
        "email": (100, False),
        "mobile": (50, False),
        "contactname": (50, False),
        "contactaddress": (500, False),
    },
    "invoicenotice": {
        **COMMON,
        "baohanno": (50, True),
        "invoiceurl": (1000, False),
        "invoicecode": (50, False),
        "invoiceno": (50, False),
        "applystatus": (None, True),
    },
    "quitapply": {**PLATFORM, **GUARANTEE, "reason": (500, True)},
    "quitnotice": {**COMMON, **GUARANTEE, "applystatus": (None, True), "tuibaotime": (None, False)},
    "canclenotice": {**PLATFORM, **GUARANTEE},
    "claimsnotice": {
        **PLATFORM,
        **GUARANTEE,
        "payeraccount": (50, False),
        "payeramount": (None, False),
        "applyusername": (200, True),
        "applyuserphone": (50, True),
        "reason": (500, False),
        "filelist": (None, False),
    },
    "giveupapply": {**PLATFORM, **APPLY},
    "giveupnotice": {**COMMON, **APPLY},
}
ISSUER = {
    "baohanapply",
    "baohanrestore",
    "invoiceapply",
    "quitapply",
    "canclenotice",
    "claimsnotice",
    "giveupapply",
}


@pytest.mark.parametrize("interface", sorted(SPEC))
def test_each_request_model_is_its_spec_table(interface: str) -> None:
    assert table(INTERFACES[interface].request) == SPEC[interface]


def test_fourteen_interfaces_seven_served_by_each_role() -> None:
    assert set(INTERFACES) == set(SPEC)
    assert ISSUER_SERVES == ISSUER and set(SPEC) - ISSUER == PLATFORM_SERVES


def test_applydata_and_answer_tables() -> None:
    assert table(models.ApplicationData) == {
        "biddername": (200, True),
        "biddercode": (50, True),
        "biaoduanno": (500, True),
        "biaoduanname": (1000, True),
        "bzjamount": (None, True),
        "zbr": (500, True),
        "zbrorgnum": (200, False),
    }
    assert table(models.RedirectData) == {"redirecturl": (500, True)}
    assert table(models.PublicKeyData) == {"publickey": (500, True)}


APPLICATION = {
    "biddername": "某建设有限公司",
    "biddercode": "91310000MA1FL0000X",
    "biaoduanno": "c2VhbGVk",
    "biaoduanname": "c2VhbGVk",
    "bzjamount": "80000.00",
    "zbr": "c2VhbGVk",
}


def test_applydata_reads_its_amount_as_a_string_or_a_number() -> None:
    assert validate_wire(models.ApplicationData, APPLICATION).bzjamount == Decimal("80000.00")
    assert validate_wire(models.ApplicationData, {**APPLICATION, "bzjamount": 80000}).bzjamount == 80000
    assert validate_wire(models.ApplicationData, APPLICATION).zbrorgnum is None
    with pytest.raises(MessageInvalid, match=r"^zbr: required$"):
        validate_wire(models.ApplicationData, {**APPLICATION, "zbr": " "})
    with pytest.raises(MessageInvalid, match=r"^bzjamount: must be an amount"):
        validate_wire(models.ApplicationData, {**APPLICATION, "bzjamount": "８０"})  # full-width digits


def test_claim_file_urls() -> None:
    fields = {
        "appkey": "a",
        "timestamp": "2026-11-30 10:00:00",
        "sign": "s",
        "platformcode": "p",
        "applyno": "A",
        "baohanno": "G",
        "applyusername": "u",
        "applyuserphone": "1",
    }
    claim = validate_wire(models.ClaimsNotice, {**fields, "filelist": '[{"fileurl":"u1"},{"fileurl":"u2"}]'})
    assert claim.file_urls == ("u1", "u2")
    assert validate_wire(models.ClaimsNotice, fields).file_urls == ()
    for bad in ("{}", "[", '[{"url": "x"}]', "[" * 40):
        with pytest.raises(MessageInvalid, match=r"^filelist: must be a JSON array"):
            validate_wire(models.ClaimsNotice, {**fields, "filelist": bad})


cents = st.decimals(min_value=0, max_value=Decimal("9999999999999999.99"), places=2)
over_precise = st.decimals(min_value=0, max_value=10**6, places=3).filter(
    lambda d: d != d.quantize(Decimal("0.01"))
)


def _notice(**change: object) -> dict[str, object]:
    return {
        "appkey": "a",
        "timestamp": "2026-11-30 10:00:00",
        "sign": "s",
        "applyno": "A",
        "baohanno": "G",
        "instname": "i",
        "generatetime": "2026-11-30 10:00:00",
        "rate": "0.005",
        "cost": "1.00",
        "applystatus": "1",
        **change,
    }


@given(cents, st.booleans())
def test_amounts_are_read_exactly_from_text_or_numbers(amount: Decimal, as_number: bool) -> None:
    text = f"{amount:f}"
    model = validate_wire(models.BaohanNotice, _notice(cost=Decimal(text) if as_number else text))
    assert model.cost == amount and f"{model.cost:f}" == text
    assert model.model_dump(mode="json")["cost"] == text


@given(over_precise, st.booleans())
def test_amounts_finer_than_a_cent_are_refused(amount: Decimal, as_number: bool) -> None:
    value = amount if as_number else f"{amount:f}"
    with pytest.raises(MessageInvalid, match=r"^cost: must be an amount"):
        validate_wire(models.BaohanNotice, _notice(cost=value))


@given(st.decimals(min_value=0, max_value=1, places=6))
def test_rates_take_six_decimals(rate: Decimal) -> None:
    assert validate_wire(models.BaohanNotice, _notice(rate=f"{rate:f}")).rate == rate


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-0", "+1", " 1", "1.", ".5", "1,000.00", "1" * 18, 1.5]
)
def test_what_is_not_an_amount(value: object) -> None:
    with pytest.raises(MessageInvalid, match=r"^cost: must be an amount"):
        validate_wire(models.BaohanNotice, _notice(cost=value))
