"""The guarantee letter (电子保函) as a one-page A4 PDF, in Chinese, with its font embedded."""

from __future__ import annotations

import functools
import hashlib
import html
import io
import os
import re
import threading
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined, Template, TemplateError
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

from baohan.adapters.documents.fonts import (
    CJK_FONT_PACKAGE,
    FONT_ENV,
    FontChoice,
    FontNotFoundError,
    find_cjk_font,
    how_to_get_one,
)
from baohan.domain.money import amount_in_chinese, format_amount

TEMPLATE_ENV = "BAOHAN_LETTER_TEMPLATE"
# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for every
# guarantee and needs no tz database (slim containers often lack /usr/share/zoneinfo).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_MARGIN = 22 * mm
_MOMENTS = frozenset({"valid_from", "valid_to", "issued_at"})
_STYLE_NAMES = frozenset({"title", "number", "to", "body", "sign", "note"})
_BLOCK = re.compile(r"\[(\w+)(?:\s+(\d+))?\]\s*(.*)", re.DOTALL)
_fonts: dict[tuple[Path, int], str] = {}
_fonts_lock = threading.Lock()
_templates: dict[tuple[str, int], Template] = {}
# Re-exported: callers of the letter name the font's failure from here.
__all__ = [
    "CJK_FONT_PACKAGE",
    "FONT_ENV",
    "TEMPLATE_ENV",
    "FontChoice",
    "FontNotFoundError",
    "GuaranteeLetter",
    "LetterTemplateError",
    "check_letter_setup",
    "find_cjk_font",
    "letter_blocks",
    "register_font",
    "render_letter_pdf",
]


class LetterTemplateError(ValueError):
    """The letter's template cannot be read, does not compile, or names a value or style that does not exist."""


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


def register_font(font: FontChoice) -> str:
    """The reportlab name of ``font``, registered once per process; unusable is a :class:`FontNotFoundError`."""
    with _fonts_lock:
        key = (font.path, font.index)
        if key in _fonts:
            return _fonts[key]
        if not font.path.is_file():
            raise FontNotFoundError(f"CJK font {font.path} not found: {how_to_get_one()}")
        name = "BaohanCJK-" + hashlib.sha256(f"{font.path}#{font.index}".encode()).hexdigest()[:8]
        try:
            # reportlab subsets the face on save, so the PDF carries only the glyphs it prints.
            pdfmetrics.registerFont(TTFont(name, str(font.path), subfontIndex=font.index))
        except (TTFError, OSError) as exc:
            raise FontNotFoundError(f"CJK font {font.path} is unusable ({exc}): {how_to_get_one()}") from None
        _fonts[key] = name
        return name


def _when(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M")


def chinese_day(moment: datetime) -> str:
    """``moment``'s date in Beijing, written the Chinese way (2026年11月30日)."""
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


def _template(path: str | Path | None) -> Template:
    """The letter's template: ``path``, else ``$BAOHAN_LETTER_TEMPLATE``, else the one shipped with baohan."""
    chosen = path if path is not None else (os.environ.get(TEMPLATE_ENV) or None)
    if chosen is None:
        source = resources.files("baohan.adapters.documents").joinpath("templates/guarantee_letter.j2")
        key, read = ("<baohan>", 0), source.read_text
    else:
        file = Path(chosen).expanduser()
        try:
            key = (str(file), file.stat().st_mtime_ns)
        except OSError as exc:
            raise LetterTemplateError(f"letter template {file}: {exc.strerror or exc}") from None
        read = functools.partial(file.read_text, encoding="utf-8")
    if key not in _templates:
        environment = Environment(
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        environment.filters.update(
            capitals=amount_in_chinese, figures=format_amount, when=_when, day=chinese_day
        )
        try:
            _templates[key] = environment.from_string(read())
        except (OSError, UnicodeDecodeError, TemplateError) as exc:
            raise LetterTemplateError(f"letter template {key[0]}: {exc}") from None
    return _templates[key]


def letter_blocks(letter: GuaranteeLetter, template: str | Path | None = None) -> list[tuple[str, str]]:
    """The letter's text as (style, markup) paragraphs, from its template; ``space`` carries points."""
    values = {f.name: getattr(letter, f.name) for f in fields(letter)}
    try:
        text = _template(template).render(values)
    except TemplateError as exc:
        raise LetterTemplateError(f"letter template: {exc}") from None
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        match = _BLOCK.fullmatch(chunk.strip())
        if match is None:
            raise LetterTemplateError(f"letter template: a paragraph must start with [style]: {chunk[:40]!r}")
        style, points, body = match.groups()
        if style == "space":
            if points is None:
                raise LetterTemplateError("letter template: [space N] needs its points")
            blocks.append((style, points))
        elif style in _STYLE_NAMES or style == "footer":
            blocks.append((style, "".join(line.strip() for line in body.splitlines())))
        else:
            known = ", ".join(sorted(_STYLE_NAMES | {"space", "footer"}))
            raise LetterTemplateError(f"letter template: unknown style [{style}] (known: {known})")
    return blocks


def check_letter_setup(template: str | Path | None = None) -> None:
    """Fail now, not at the first issue, when the font or the template will not do (FontNotFoundError,
    LetterTemplateError)."""
    register_font(find_cjk_font())
    now = datetime.now(SHANGHAI)
    sample = GuaranteeLetter(
        **{f.name: "示例" for f in fields(GuaranteeLetter) if f.name not in _MOMENTS | {"amount", "kind"}},
        amount=Decimal("1.00"),
        valid_from=now,
        valid_to=now + timedelta(days=1),
        issued_at=now,
    )
    letter_blocks(sample, template)


def _story(blocks: list[tuple[str, str]], font: str) -> list[Any]:
    s = _styles(font)
    return [
        Spacer(0, int(text)) if style == "space" else Paragraph(text, s[style])
        for style, text in blocks
        if style != "footer"
    ]


def render_letter_pdf(
    letter: GuaranteeLetter, *, font_path: str | Path | None = None, template: str | Path | None = None
) -> bytes:
    """The letter as a one-page A4 PDF, worded by its template, with a subset of the CJK font embedded
    (``font_path``, else :func:`find_cjk_font`); same letter, same bytes."""
    font = register_font(FontChoice(Path(font_path)) if font_path is not None else find_cjk_font())
    blocks = letter_blocks(letter, template)
    footer = " ".join(text for style, text in blocks if style == "footer")
    issued = letter.issued_at.astimezone(SHANGHAI)
    pdf_date = issued.strftime("D:%Y%m%d%H%M%S+08'00'")

    def on_page(canvas: Any, _doc: Any) -> None:
        # Invariant mode would stamp 2000-01-01; the issue time is the honest creation date.
        canvas.setDateFormatter(lambda *_: pdf_date)
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.grey)
        if footer:
            canvas.drawCentredString(A4[0] / 2, 12 * mm, html.unescape(re.sub(r"<[^>]*>", "", footer)))

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
        [KeepInFrame(doc.width, doc.height, _story(blocks, font), mode="shrink")],
        onFirstPage=on_page,
        onLaterPages=on_page,
    )
    return out.getvalue()
