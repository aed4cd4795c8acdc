"""The guarantee letter (电子保函) as a one-page A4 PDF, in Chinese, with its font embedded."""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape  # escapes text we write into markup, parses no XML  # nosec B406

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFError, TTFont  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    KeepInFrame,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
)

from baohan.domain.money import amount_in_chinese, format_amount

CJK_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"
# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for every
# guarantee and needs no tz database (slim containers often lack /usr/share/zoneinfo).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_MARGIN = 22 * mm
_PURPOSE = {
    "履约保函": "为保证供应商按约履行与贵方签订的政府采购合同",
    "投标保函": "为保证供应商履行其作为投标人的义务",
}
_MOMENTS = frozenset({"valid_from", "valid_to", "issued_at"})
_fonts: dict[Path, str] = {}
_fonts_lock = threading.Lock()


class FontNotFoundError(FileNotFoundError):
    """The CJK font the letter embeds is missing or unreadable."""


@dataclass(frozen=True)
class GuaranteeLetter:
    """Every fact printed on a guarantee letter; times are timezone-aware, the amount is in yuan."""

    guarantee_no: str
    issuer_name: str
    beneficiary_name: str
    beneficiary_code: str
    principal_name: str
    principal_code: str
    amount: Decimal
    valid_from: datetime
    valid_to: datetime
    issued_at: datetime
    project_code: str
    project_name: str
    bid_code: str
    bid_name: str
    verification_code: str
    kind: str = "履约保函"

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in _MOMENTS:
                if not isinstance(value, datetime) or value.utcoffset() is None:
                    raise ValueError(f"{field.name} must be a timezone-aware datetime")
            elif field.name != "amount" and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{field.name} must be a non-empty string")
        format_amount(self.amount)  # raises ValueError naming what is wrong with the amount
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")


def _register_font(path: Path) -> str:
    with _fonts_lock:
        if path in _fonts:
            return _fonts[path]
        if not path.is_file():
            raise FontNotFoundError(
                f"CJK font {path} not found: install the Debian package {CJK_FONT_PACKAGE} "
                f"(apt-get install {CJK_FONT_PACKAGE})"
            )
        name = "WenQuanYiZenHei-" + hashlib.sha256(str(path).encode()).hexdigest()[:8]
        try:
            # subfontIndex 0 of the .ttc is the proportional Zen Hei face; reportlab subsets it on save.
            pdfmetrics.registerFont(TTFont(name, str(path), subfontIndex=0))
        except (TTFError, OSError) as exc:
            raise FontNotFoundError(
                f"CJK font {path} is unusable ({exc}): reinstall the Debian package {CJK_FONT_PACKAGE}"
            ) from None
        _fonts[path] = name
        return name


def _when(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")


def _day(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y年%m月%d日")


def _styles(font: str) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle(
        "body",
        fontName=font,
        fontSize=12,
        leading=21,
        wordWrap="CJK",
        alignment=TA_JUSTIFY,
        firstLineIndent=24,
        spaceAfter=4,
    )
    return {
        "title": ParagraphStyle(
            "title", parent=body, fontSize=24, leading=32, alignment=TA_CENTER, firstLineIndent=0
        ),
        "number": ParagraphStyle("number", parent=body, alignment=TA_RIGHT, firstLineIndent=0),
        "to": ParagraphStyle("to", parent=body, firstLineIndent=0, spaceBefore=8),
        "body": body,
        "sign": ParagraphStyle("sign", parent=body, alignment=TA_RIGHT, firstLineIndent=0),
        "note": ParagraphStyle(
            "note", parent=body, fontSize=9, leading=14, textColor=colors.grey, firstLineIndent=0
        ),
    }


def _story(letter: GuaranteeLetter, font: str) -> list[Any]:
    s = _styles(font)
    e = {f.name: escape(str(getattr(letter, f.name))) for f in fields(letter)}
    purpose = _PURPOSE.get(letter.kind, "为保证供应商履行其在上述采购活动中的义务")
    capitals = amount_in_chinese(letter.amount)
    figures = format_amount(letter.amount)
    clauses = [
        f"一、担保金额：人民币{capitals}（¥{figures}）。",
        f"二、保函有效期：自{_when(letter.valid_from)}起至{_when(letter.valid_to)}止。",
        "三、见索即付：在本保函有效期内，我方在收到贵方首次提交的书面索赔通知后，即在担保金额内"
        "向贵方支付贵方所索赔的款项，贵方无需提供任何证明，亦无需说明理由；我方不以供应商的任何抗辩"
        "为由拒绝或拖延付款。",
        "四、贵方的索赔通知须在本保函有效期内送达我方。保函有效期届满，或我方累计支付的款项达到"
        "担保金额时，本保函自动失效。本保函不可撤销、不可转让。",
        "五、本保函为电子保函，由我方以国密SM2数字证书电子签章（签名算法SM3withSM2）。签章覆盖"
        "本保函全部内容，任何改动均使签章失效。贵方可通过政府采购金融服务平台或向我方查验本保函真伪，验真码："
        f"{e['verification_code']}。",
    ]
    return [
        Paragraph(e["kind"], s["title"]),
        Paragraph(f"保函编号：{e['guarantee_no']}", s["number"]),
        Paragraph(f"致（受益人/采购人）：{e['beneficiary_name']}", s["to"]),
        Paragraph(f"统一社会信用代码：{e['beneficiary_code']}", s["to"]),
        Spacer(0, 6),
        Paragraph(
            f"鉴于{e['principal_name']}（以下简称“供应商”，统一社会信用代码：{e['principal_code']}）"
            f"参加贵方组织的{e['project_name']}（项目编号：{e['project_code']}）"
            f"{e['bid_name']}（标段/包编号：{e['bid_code']}）政府采购活动，{purpose}，"
            f"应供应商申请，{e['issuer_name']}（以下简称“我方”）向贵方"
            f"出具本{e['kind']}，并作出如下不可撤销的保证：",
            s["body"],
        ),
        *(Paragraph(clause, s["body"]) for clause in clauses),
        Spacer(0, 28),
        Paragraph(f"出函机构（电子签章）：{e['issuer_name']}", s["sign"]),
        Paragraph(f"出函日期：{_day(letter.issued_at)}", s["sign"]),
        Spacer(0, 24),
        Paragraph("注：本保函所载时间均为北京时间（Asia/Shanghai，UTC+8）；金额单位为人民币元。", s["note"]),
    ]


def render_letter_pdf(letter: GuaranteeLetter, *, font_path: str | Path = CJK_FONT_PATH) -> bytes:
    """The letter as a one-page A4 PDF with the WenQuanYi Zen Hei subset embedded; same letter, same bytes."""
    font = _register_font(Path(font_path))
    issued = letter.issued_at.astimezone(SHANGHAI)
    pdf_date = issued.strftime("D:%Y%m%d%H%M%S+08'00'")

    def on_page(canvas: Any, _doc: Any) -> None:
        # Invariant mode would stamp 2000-01-01; the issue time is the honest creation date.
        canvas.setDateFormatter(lambda *_: pdf_date)
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.grey)
        canvas.drawCentredString(A4[0] / 2, 12 * mm, f"电子保函 {letter.guarantee_no} 第 1 页 共 1 页")

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN,
        bottomMargin=_MARGIN,
        title=f"{letter.kind} {letter.guarantee_no}",
        author=letter.issuer_name,
        subject=f"{letter.project_name} {letter.bid_name}",
        creator="baohan",
        initialFontName=font,  # otherwise an unused, unembedded Helvetica is declared on the page
        invariant=1,  # reproducible bytes: the file ID is a digest of the content, not of the clock
        lang="zh-CN",
    )
    # Shrinking long names to fit keeps the letter on one page whatever the project is called.
    doc.build(
        [KeepInFrame(doc.width, doc.height, _story(letter, font), mode="shrink")],
        onFirstPage=on_page,
        onLaterPages=on_page,
    )
    return out.getvalue()
