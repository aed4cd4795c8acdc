"""The local e-invoice: numbered by its documented rule, a one-page PDF stating the amount (figures and
capitals), the numbers and both parties, the 专票 fields only on a 专票, and money only ever as Decimal."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils.reader import PdfFileReader

from baohan.adapters.documents.invoice import (
    InvoiceKind,
    InvoiceRequest,
    Seller,
    invoice_code,
    invoice_number,
    issue,
)
from baohan.gm import sm3
from tests.documents.test_letter_and_signature import page_text

SELLER = Seller("示例融资担保股份有限公司", "91320000MA1SELLER1")
AT = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 2027-01-01 01:00 in Beijing
ORDINARY = InvoiceRequest(
    guarantee_no="TBH2026000042",
    buyer_name="示例建设工程有限公司",
    buyer_code="91320000MA1X000001",
    amount=Decimal("1234.56"),
    kind=InvoiceKind.ORDINARY,
)
SPECIAL = replace(
    ORDINARY,
    kind=InvoiceKind.SPECIAL,
    address="江苏省南京市示例路1号",
    phone="025-88888888",
    bank="示例银行南京分行",
    account="6222000011112222333",
)


def _text(pdf: bytes) -> str:
    return re.sub(r"\s", "", page_text(pdf))


def test_the_numbers_follow_the_documented_rule() -> None:
    issued = issue(ORDINARY, SELLER, serial=42, issued_at=AT)
    seller_digits = int.from_bytes(sm3(SELLER.code.encode()), "big") % 10**7
    assert issued.number == "00000042"
    assert issued.code == f"20270{seller_digits:07d}"  # the Beijing year, not the UTC one
    assert invoice_code(SELLER, InvoiceKind.SPECIAL, AT)[4] == "1"
    assert len(issued.code) == 12 and issued.code.isdigit()


@pytest.mark.parametrize("serial", [0, -1, 100_000_000, True, 1.0])
def test_a_serial_out_of_range_is_refused(serial: object) -> None:
    with pytest.raises(ValueError, match="serial must be an integer"):
        invoice_number(serial)  # type: ignore[arg-type]


def test_the_pdf_is_one_page_and_states_the_invoice() -> None:
    issued = issue(ORDINARY, SELLER, serial=42, issued_at=AT)
    reader = PdfFileReader(io.BytesIO(issued.pdf))
    pages = reader.root["/Pages"]
    assert pages["/Count"] == 1
    page = pages["/Kids"][0]
    fonts = page["/Resources"]["/Font"]
    for font in (fonts[name] for name in fonts):  # only the CJK subset, embedded: no Helvetica
        assert "/FontFile2" in font["/FontDescriptor"], font["/BaseFont"]
    assert "00000042" in str(reader.trailer_view["/Info"]["/Title"])
    text = _text(issued.pdf)
    for fact in (
        "电子发票（普通发票）",
        issued.code,
        issued.number,
        "2027年01月01日",
        "¥1,234.56",
        "壹仟贰佰叁拾肆元伍角陆分",
        ORDINARY.buyer_name,
        ORDINARY.buyer_code,
        ORDINARY.guarantee_no,
        SELLER.name,
        SELLER.code,
    ):
        assert fact in text, fact
    assert issue(ORDINARY, SELLER, serial=42, issued_at=AT).pdf == issued.pdf


def test_special_fields_appear_only_on_a_special_invoice() -> None:
    special = _text(issue(SPECIAL, SELLER, serial=7, issued_at=AT).pdf)
    assert "增值税专用发票" in special
    for value in (SPECIAL.address, SPECIAL.phone, SPECIAL.bank, SPECIAL.account):
        assert value in special
    # A 普票 whose request happens to carry them still does not print them.
    ordinary = _text(issue(replace(SPECIAL, kind=InvoiceKind.ORDINARY), SELLER, serial=8, issued_at=AT).pdf)
    for value in (SPECIAL.address, SPECIAL.phone, SPECIAL.bank, SPECIAL.account, "开户行"):
        assert value not in ordinary


@settings(max_examples=15, deadline=None)
@given(cents=st.integers(min_value=1, max_value=10**13))
def test_any_amount_is_printed_exactly(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    issued = issue(replace(ORDINARY, amount=amount), SELLER, serial=1, issued_at=AT)
    assert isinstance(issued.request.amount, Decimal)
    text = _text(issued.pdf)
    assert f"¥{amount:,.2f}" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": 1234.56}, "must be a Decimal, not float"),
        ({"amount": Decimal("0")}, "amount must be positive"),
        ({"amount": Decimal("1.001")}, "more than 2 decimal places"),
        ({"kind": 2}, "type must be 0"),
        ({"kind": InvoiceKind.SPECIAL}, "needs address, phone, bank, account"),
        ({"kind": InvoiceKind.SPECIAL, "address": "x", "phone": "y"}, "needs bank, account"),
        ({"buyer_code": " "}, "buyer_code must not be empty"),
    ],
)
def test_bad_requests_are_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        replace(ORDINARY, **change)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="issued_at must be timezone-aware"):
        issue(ORDINARY, SELLER, serial=1, issued_at=datetime(2026, 1, 1))


def test_markup_in_names_is_printed_not_interpreted() -> None:
    request = replace(ORDINARY, buyer_name="A&B<有限>公司")
    assert "A&B<有限>公司" in _text(issue(request, SELLER, serial=1, issued_at=AT).pdf)
