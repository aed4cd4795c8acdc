"""The seal picture: a red round seal on a transparent ground, drawn with a font found, never assumed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from baohan.adapters.documents.fonts import FONT_ENV, FontNotFoundError, find_cjk_font
from baohan.adapters.documents.ofd import OfdError, draw_seal


def _pixels(image: Image.Image) -> list[tuple[int, int, int, int]]:
    data = image.tobytes()
    return [tuple(data[i : i + 4]) for i in range(0, len(data), 4)]  # type: ignore[misc]


def _red(pixel: tuple[int, int, int, int]) -> bool:
    r, g, b, a = pixel
    return a > 200 and r > 180 and g < 80 and b < 80


def test_the_seal_is_red_round_and_transparent_outside() -> None:
    picture = Image.open(io.BytesIO(draw_seal("示例融资担保股份有限公司", caption="保函专用章", size_px=300)))
    assert picture.format == "PNG" and picture.size == (300, 300) and picture.mode == "RGBA"
    pixels = picture.load()
    assert pixels[0, 0][3] == 0 and pixels[299, 299][3] == 0  # corners lie outside the circle
    assert _red(pixels[150, 150])  # the star's centre
    assert _red(pixels[150, 300 - 4]) and _red(pixels[4, 150])  # the rim, bottom and left
    colours = {p for p in _pixels(picture) if p[3] > 200}
    assert all(_red(p) for p in colours)


def test_the_name_is_drawn_along_the_rim() -> None:
    short = Image.open(io.BytesIO(draw_seal("甲", size_px=200)))
    long = Image.open(io.BytesIO(draw_seal("示例融资担保股份有限公司", size_px=200)))

    # The upper band between rim and star holds the name: more characters, more red there.
    def ink(image: Image.Image) -> int:
        band = image.crop((20, 12, 180, 60))
        return sum(1 for p in _pixels(band) if p[3] > 128)

    assert ink(long) > ink(short) > 0


def test_same_name_same_picture() -> None:
    assert draw_seal("示例银行", size_px=128) == draw_seal("示例银行", size_px=128)


def test_bad_input_is_refused() -> None:
    with pytest.raises(OfdError, match="name"):
        draw_seal("  ")
    with pytest.raises(OfdError, match="size_px"):
        draw_seal("甲", size_px=10)


def test_a_missing_baohan_font_is_refused_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(FontNotFoundError, match=FONT_ENV):
        draw_seal("甲")


def test_fontconfig_finds_a_font_with_chinese_glyphs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FONT_ENV, raising=False)
    from PIL import ImageFont

    font = find_cjk_font()
    face = ImageFont.truetype(str(font.path), 40, index=font.index)
    assert face.getbbox("章")[2] > 20  # a real glyph, not an empty box
