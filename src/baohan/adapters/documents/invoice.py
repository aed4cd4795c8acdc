"""The local electronic invoice (电子发票) for a tender guarantee's fee, as a one-page A4 PDF.

Numbering (deterministic; no tax-bureau allocation is involved):

- the invoice number (发票号码) is the caller's serial, 8 digits zero-padded; the caller keeps serials
  unique for the seller (a database sequence), this module only formats them;
- the invoice code (发票代码) is 12 digits: the year of issue in Beijing time (4), the invoice type (1: 0 普票,
  1 专票), and 7 digits naming the seller (the SM3 digest of its credit code, modulo 10^7).

So one seller's (code, number) pairs are unique as long as its serials are.
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_CENTER  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle  # type: ignore[import-untyped]

from baohan.adapters.documents.fonts import find_cjk_font
from baohan.adapters.documents.letter import SHANGHAI, register_font
from baohan.domain.money import amount_in_chinese, format_amount
from baohan.gm import sm3

MAX_SERIAL = 99_999_999
_SPECIAL_FIELDS = ("address", "phone", "bank", "account")


class InvoiceKind(IntEnum):
    """The spec's invoice ``type``: 0 an ordinary invoice (普票), 1 a VAT special invoice (专票)."""

    ORDINARY = 0
    SPECIAL = 1

    @property
    def title(self) -> str:
        """The heading printed on the invoice."""
        return "电子发票（增值税专用发票）" if self is InvoiceKind.SPECIAL else "电子发票（普通发票）"


@dataclass(frozen=True)
class Seller:
    """The institution that issues the invoice: its name and unified social credit code."""

    name: str
    code: str

    def __post_init__(self) -> None:
        for name in ("name", "code"):
            if not getattr(self, name).strip():
                raise ValueError(f"seller {name} must not be empty")


@dataclass(frozen=True)
class InvoiceRequest:
    """What the buyer asked for: name and credit code, the amount in yuan, the type, and for a 专票 the
    address, phone, bank and account, which a 普票 does not print."""

    guarantee_no: str
    buyer_name: str
    buyer_code: str
    amount: Decimal
    kind: InvoiceKind
    address: str = ""
    phone: str = ""
    bank: str = ""
    account: str = ""

    def __post_init__(self) -> None:
        for name in ("guarantee_no", "buyer_name", "buyer_code"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")
        format_amount(self.amount)  # a Decimal with at most two places, or a TypeError/ValueError naming it
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        try:
            object.__setattr__(self, "kind", InvoiceKind(self.kind))
        except ValueError:
            raise ValueError(f"type must be 0 (普票) or 1 (专票), not {self.kind!r}") from None
        if self.kind is InvoiceKind.SPECIAL:
            missing = [name for name in _SPECIAL_FIELDS if not getattr(self, name).strip()]
            if missing:
                raise ValueError(f"a 专票 (type 1) needs {', '.join(missing)}")


@dataclass(frozen=True)
class IssuedInvoice:
    """An issued invoice: its code and number, the request it answers, when, and the PDF."""

    code: str
    number: str
    request: InvoiceRequest
    seller: Seller
    issued_at: datetime
    pdf: bytes


def invoice_code(seller: Seller, kind: InvoiceKind, issued_at: datetime) -> str:
    """The 12-digit invoice code: year of issue (Beijing time), type, and 7 digits naming the seller."""
    seller_digits = int.from_bytes(sm3(seller.code.strip().encode()), "big") % 10**7
    return f"{issued_at.astimezone(SHANGHAI).year:04d}{int(kind)}{seller_digits:07d}"


def invoice_number(serial: int) -> str:
    """The 8-digit invoice number of the caller's serial (1..99,999,999)."""
    if isinstance(serial, bool) or not isinstance(serial, int) or not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial must be an integer within 1..{MAX_SERIAL}")
    return f"{serial:08d}"


def issue(
    request: InvoiceRequest, seller: Seller, *, serial: int, issued_at: datetime, item: str = "担保服务费"
) -> IssuedInvoice:
    """Number the invoice (see the module docstring) and draw its PDF; same inputs, same bytes."""
    if issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    number = invoice_number(serial)
    code = invoice_code(seller, request.kind, issued_at)
    pdf = _pdf(request, seller, code, number, issued_at, item)
    return IssuedInvoice(code, number, request, seller, issued_at, pdf)


def _pdf(
    request: InvoiceRequest, seller: Seller, code: str, number: str, issued_at: datetime, item: str
) -> bytes:
    font = register_font(find_cjk_font())
    cell = ParagraphStyle("cell", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    title = ParagraphStyle("title", parent=cell, fontSize=18, leading=26, alignment=TA_CENTER)
    moment = issued_at.astimezone(SHANGHAI)

    def p(text: str) -> Paragraph:
        return Paragraph(html.escape(text, quote=False), cell)

    def rows(*pairs: tuple[str, str]) -> list[list[Paragraph]]:
        return [[p(label), p(value)] for label, value in pairs]

    buyer = [("购买方名称", request.buyer_name), ("纳税人识别号", request.buyer_code)]
    if request.kind is InvoiceKind.SPECIAL:
        buyer += [
            ("地址、电话", f"{request.address} {request.phone}"),
            ("开户行及账号", f"{request.bank} {request.account}"),
        ]
    figures = f"¥{format_amount(request.amount)}"
    story: list[Any] = [
        Paragraph(request.kind.title, title),
        Spacer(0, 4 * mm),
        _table(
            rows(("发票代码", code), ("发票号码", number), ("开票日期", moment.strftime("%Y年%m月%d日"))),
            font,
        ),
        Spacer(0, 4 * mm),
        _table(rows(*buyer), font),
        Spacer(0, 4 * mm),
        _table(
            [
                [p("项目名称"), p("保函编号"), p("金额（元）")],
                [p(item), p(request.guarantee_no), p(figures)],
                [p("价税合计（大写）"), p(amount_in_chinese(request.amount)), p(f"（小写）{figures}")],
            ],
            font,
            widths=(50 * mm, 66 * mm, 50 * mm),
        ),
        Spacer(0, 4 * mm),
        _table(rows(("销售方名称", seller.name), ("纳税人识别号", seller.code)), font),
    ]
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=22 * mm,
        bottomMargin=22 * mm,
        title=f"{request.kind.title} {code} {number}",
        author=seller.name,
        subject=request.guarantee_no,
        creator="baohan",
        initialFontName=font,
        invariant=1,
        lang="zh-CN",
    )
    pdf_date = moment.strftime("D:%Y%m%d%H%M%S+08'00'")

    def on_page(canvas: Any, _doc: Any) -> None:
        canvas.setDateFormatter(lambda *_: pdf_date)

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return out.getvalue()


def _table(data: list[list[Paragraph]], font: str, widths: tuple[float, ...] = (40 * mm, 126 * mm)) -> Table:
    table = Table(data, colWidths=list(widths))
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#8B4513")),
                ("FONTNAME", (0, 0), (-1, -1), font),  # else an unembedded Helvetica is declared
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table
