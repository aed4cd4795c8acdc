"""The flow layout: paragraphs follow one another, every line stays within the width, and text that would
run past the bottom is scaled down until it fits, or refused when it cannot."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baohan.adapters.documents.ofd import OfdError, Text
from baohan.adapters.documents.ofd.flow import Paragraph, flow
from baohan.adapters.documents.ofd.writer import advance, wrap


def _bottom(texts: list[Text]) -> float:
    last = texts[-1]
    return last.y + len(wrap(last.text, last.size, last.width)) * last.size * last.line_height


def test_short_text_keeps_its_size_and_follows_on() -> None:
    first, second = flow(
        [Paragraph("甲" * 10), Paragraph("乙", space_before=2, indent=5)],
        left=20,
        top=30,
        width=100,
        bottom=200,
        font="宋体",
    )
    assert (first.x, first.y, first.size, first.width) == (20, 30, 4.2, 100)
    assert (second.x, second.y, second.width) == (25, 30 + 4.2 * 1.5 + 2, 95)


@settings(max_examples=30, deadline=None)
@given(
    # Up to the spec's longest project fields (1000 characters) and then some, within what a page can hold.
    lengths=st.lists(st.integers(min_value=1, max_value=120), min_size=1, max_size=5),
    ascii_text=st.booleans(),
)
def test_any_text_that_fits_at_all_ends_above_the_bottom_within_the_width(
    lengths: list[int], ascii_text: bool
) -> None:
    paragraphs = [Paragraph(("QUJD+/=" if ascii_text else "标段名称") * n) for n in lengths]
    texts = flow(paragraphs, left=25, top=24, width=160, bottom=236, font="宋体")
    assert _bottom(texts) <= 236 + 1e-9
    for text in texts:
        for line in wrap(text.text, text.size, text.width):
            assert sum(advance(c, text.size) for c in line) <= 160 + 1e-6
    assert len({t.size / p.size for t, p in zip(texts, paragraphs, strict=True)}) == 1  # scaled alike


def test_text_that_cannot_fit_is_refused() -> None:
    with pytest.raises(OfdError, match="does not fit"):
        flow([Paragraph("长" * 20_000)], left=25, top=24, width=160, bottom=236, font="宋体")
