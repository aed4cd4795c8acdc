"""Laying paragraphs down a page: each below the last, wrapped to a width, and every size scaled down
together when they would run past the bottom, so a long name shrinks the text instead of leaving the page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.model import Text
from baohan.adapters.documents.ofd.writer import wrap

_STEP = 0.95
_SMALLEST = 0.4  # of the sizes asked for; below that a page is unreadable and the text must go elsewhere


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of the flow: its text, size (mm), space above it (mm) and indent from the left (mm)."""

    text: str
    size: float = 4.2
    space_before: float = 0.0
    indent: float = 0.0


def flow(
    paragraphs: Sequence[Paragraph], *, left: float, top: float, width: float, bottom: float, font: str
) -> list[Text]:
    """The paragraphs as wrapped :class:`Text` items from ``top`` down, all scaled alike to end above ``bottom``."""
    scale = 1.0
    while scale >= _SMALLEST:
        placed = _place(paragraphs, scale, left, top, width, font)
        if _height(placed) <= bottom:
            return placed
        scale *= _STEP
    raise OfdError(
        f"the text does not fit between {top} mm and {bottom} mm even at {_SMALLEST:.0%} of its size"
    )


def _place(
    paragraphs: Sequence[Paragraph], scale: float, left: float, top: float, width: float, font: str
) -> list[Text]:
    texts, y = [], top
    for paragraph in paragraphs:
        size = paragraph.size * scale
        y += paragraph.space_before * scale
        item = Text(
            paragraph.text,
            x=left + paragraph.indent,
            y=y,
            size=size,
            font=font,
            width=width - paragraph.indent,
        )
        texts.append(item)
        y += len(wrap(item.text, size, item.width)) * size * item.line_height
    return texts


def _height(texts: list[Text]) -> float:
    last = texts[-1] if texts else None
    if last is None:
        return 0.0
    return last.y + len(wrap(last.text, last.size, last.width)) * last.size * last.line_height
