"""The seal's picture: a red round seal, the institution's name around the upper edge, a star in the middle
and an optional caption beneath it, drawn with Pillow as a PNG with a transparent background."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

from baohan.adapters.documents.fonts import FontChoice, find_cjk_font
from baohan.adapters.documents.ofd.errors import OfdError

SEAL_RED = (230, 0, 18, 255)
_MAX_ARC = 250.0  # degrees of the rim the name may take
_CHAR_ARC = 30.0  # degrees per character while the name is short


def draw_seal(name: str, *, caption: str = "", size_px: int = 400, font: FontChoice | None = None) -> bytes:
    """A PNG of a round red seal ``size_px`` square with ``name`` along the rim and ``caption`` below the star."""
    name, caption = name.strip(), caption.strip()
    if not name:
        raise OfdError("the seal needs the institution's name")
    if len(name) > 40 or len(caption) > 12:
        raise OfdError("the seal's name is at most 40 characters and its caption at most 12")
    if not 64 <= size_px <= 2048:
        raise OfdError("size_px must be within 64..2048")
    face_of = font or find_cjk_font()
    image = Image.new("RGBA", (size_px, size_px), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    centre = size_px / 2
    rim = max(2, round(size_px * 0.035))
    outer = centre - 2
    draw.ellipse(
        (centre - outer, centre - outer, centre + outer, centre + outer), outline=SEAL_RED, width=rim
    )
    draw.polygon(_star(centre, centre, size_px * 0.17), fill=SEAL_RED)
    _rim_text(image, name, centre, outer - rim, face_of)
    if caption:
        size = round(size_px * 0.09)
        face = ImageFont.truetype(str(face_of.path), size, index=face_of.index)
        draw.text((centre, centre + size_px * 0.27), caption, font=face, fill=SEAL_RED, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _star(cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    points = []
    for n in range(10):
        r = radius if n % 2 == 0 else radius * 0.382  # the inner radius of a regular five-pointed star
        angle = math.radians(-90 + n * 36)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return points


def _rim_text(image: Image.Image, text: str, centre: float, inner: float, face_of: FontChoice) -> None:
    count = len(text)
    arc = min(_MAX_ARC, _CHAR_ARC * count)
    size = round(image.width * 0.12)
    # Each character gets its share of the arc; a long name keeps its height and narrows its characters,
    # as seal engravers do.
    share = math.radians(arc / count) * (inner - size * 0.68)
    squeeze = min(1.0, share * 0.9 / size)
    radius = inner - size * 0.68
    face = ImageFont.truetype(str(face_of.path), size, index=face_of.index)
    cell = round(size * 1.5)
    for n, char in enumerate(text):
        angle = -arc / 2 + arc * (n + 0.5) / count  # degrees clockwise from the top
        glyph = Image.new("RGBA", (cell, cell), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((cell / 2, cell / 2), char, font=face, fill=SEAL_RED, anchor="mm")
        if squeeze < 1.0:
            glyph = glyph.resize((max(1, round(cell * squeeze)), cell), Image.Resampling.LANCZOS)
        turned = glyph.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=True)
        x = centre + radius * math.sin(math.radians(angle)) - turned.width / 2
        y = centre - radius * math.cos(math.radians(angle)) - turned.height / 2
        image.alpha_composite(turned, (round(x), round(y)))
