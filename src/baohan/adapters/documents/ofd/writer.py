"""GB/T 33190 writer: an :class:`OfdDocument` as an OFD package, the same bytes for the same document.

Layout of the package (one document, ``Doc_0``)::

    OFD.xml  Doc_0/Document.xml  Doc_0/PublicRes.xml (fonts)  Doc_0/DocumentRes.xml (images)
    Doc_0/Pages/Page_N/Content.xml  Doc_0/Res/image_ID.png  Doc_0/Attachs/Attachments.xml + files
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Iterator
from typing import Any

from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.attachments import ofd_moment
from baohan.adapters.documents.ofd.model import Image, OfdDocument, Page, Text
from baohan.adapters.documents.ofd.package import OfdPackage

DOC = "Doc_0"
CREATOR = "baohan"
HALF_WIDTH = 0.55
_BASELINE = 0.88  # of the size: where the baseline sits below the top of a line box


def num(value: float) -> str:
    """A length as OFD writes it: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def box(x_: float, y: float, width: float, height: float) -> str:
    """An OFD ``Boundary``/``PhysicalBox`` value."""
    return " ".join(num(v) for v in (x_, y, width, height))


def advance(char: str, size: float) -> float:
    """How far a character moves the pen: a full em for CJK and full-width forms, a bit over half for the rest
    (the Latin letters of common Chinese faces are 0.5-0.6 em wide)."""
    return size if unicodedata.east_asian_width(char) in ("W", "F") else size * HALF_WIDTH


def wrap(text: str, size: float, width: float | None) -> list[str]:
    """The lines of ``text``: its own line breaks, and breaks before any character that would pass ``width``.

    A run of ASCII letters and digits (a guarantee number, an amount) moves to the next line whole unless
    it fills a line on its own; spaces at a break are dropped.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for char in paragraph:
            if width is not None and line and _width(line + char, size) > width + 1e-9:
                head, tail = _split_word(line, char)
                lines.append(head.rstrip(" "))
                line = tail.lstrip(" ")
                if char == " " and not line:
                    continue
            line += char
        lines.append(line)
    return lines


def _width(line: str, size: float) -> float:
    return sum(advance(c, size) for c in line)


def _split_word(line: str, char: str) -> tuple[str, str]:
    """Where to break ``line`` when ``char`` does not fit: before the word ``char`` continues, if any."""
    if not _wordish(char):
        return line, ""
    start = len(line)
    while start > 0 and _wordish(line[start - 1]):
        start -= 1
    return (line[:start], line[start:]) if start > 0 else (line, "")


def _wordish(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in ".,-_/")


class _Ids:
    """GB/T 33190 object ids: one counter for the whole document, starting at 1."""

    def __init__(self) -> None:
        self._next = itertools.count(1)
        self.last = 0

    def take(self) -> str:
        self.last = next(self._next)
        return str(self.last)


def write_ofd(document: OfdDocument) -> bytes:
    """The OFD file of ``document``: deterministic, so the same document always gives the same bytes."""
    return build_package(document).to_bytes()


def build_package(document: OfdDocument) -> OfdPackage:
    """The package parts of ``document`` (see the module docstring for the layout)."""
    ids = _Ids()
    fonts = {
        name: ids.take()
        for name in dict.fromkeys(i.font for p in document.pages for i in p.items if isinstance(i, Text))
    }
    images: dict[bytes, tuple[str, str]] = {}  # picture bytes -> (id, file name); equal pictures stored once
    for page in document.pages:
        for item in page.items:
            if isinstance(item, Image) and item.data not in images:
                image_id = ids.take()
                images[item.data] = (image_id, f"image_{image_id}.{item.format.lower()}")
    package = OfdPackage()
    package.put("OFD.xml", _ofd_xml(document))
    pages = [(ids.take(), _page_xml(page, ids, fonts, images)) for page in document.pages]
    attachment_ids = [ids.take() for _ in document.attachments]
    package.put(f"{DOC}/Document.xml", _document_xml(document, ids.last, [p for p, _ in pages], bool(images)))
    package.put(f"{DOC}/PublicRes.xml", _public_res(fonts))
    if images:
        package.put(f"{DOC}/DocumentRes.xml", _document_res(images))
        for data, (_, file_name) in images.items():
            package.put(f"{DOC}/Res/{file_name}", data)
    for n, (_, content) in enumerate(pages):
        package.put(f"{DOC}/Pages/Page_{n}/Content.xml", content)
    if document.attachments:
        package.put(f"{DOC}/Attachs/Attachments.xml", _attachments_xml(document, attachment_ids))
        for attachment in document.attachments:
            package.put(f"{DOC}/Attachs/{attachment.file_name}", attachment.data)
    return package


def _ofd_xml(document: OfdDocument) -> bytes:
    ofd = x.root("OFD", Version="1.1", DocType="OFD")
    body = x.child(ofd, "DocBody")
    info = x.child(body, "DocInfo")
    x.child(info, "DocID", document.doc_id)
    x.child(info, "Title", document.title)
    if document.author:
        x.child(info, "Author", document.author)
    x.child(info, "CreationDate", document.created.date().isoformat())
    x.child(info, "Creator", CREATOR)
    if document.custom_data:
        datas = x.child(info, "CustomDatas")
        for name, value in document.custom_data.items():
            x.child(datas, "CustomData", value, Name=name)
    x.child(body, "DocRoot", f"{DOC}/Document.xml")
    return x.to_bytes(ofd)


def _document_xml(document: OfdDocument, max_id: int, page_ids: list[str], has_images: bool) -> bytes:
    root = x.root("Document")
    common = x.child(root, "CommonData")
    x.child(common, "MaxUnitID", str(max_id))
    area = x.child(common, "PageArea")
    x.child(area, "PhysicalBox", box(0, 0, *document.page_size))
    x.child(common, "PublicRes", "PublicRes.xml")
    if has_images:
        x.child(common, "DocumentRes", "DocumentRes.xml")
    pages = x.child(root, "Pages")
    for n, page_id in enumerate(page_ids):
        x.child(pages, "Page", ID=page_id, BaseLoc=f"Pages/Page_{n}/Content.xml")
    if document.attachments:
        x.child(root, "Attachments", "Attachs/Attachments.xml")
    return x.to_bytes(root)


def _public_res(fonts: dict[str, str]) -> bytes:
    res = x.root("Res", BaseLoc="Res")
    if fonts:
        holder = x.child(res, "Fonts")
        for name, font_id in fonts.items():
            x.child(holder, "Font", ID=font_id, FontName=name, FamilyName=name)
    return x.to_bytes(res)


def _document_res(images: dict[bytes, tuple[str, str]]) -> bytes:
    res = x.root("Res", BaseLoc="Res")
    medias = x.child(res, "MultiMedias")
    for image_id, file_name in images.values():
        media = x.child(medias, "MultiMedia", ID=image_id, Type="Image", Format=_format_of(file_name))
        x.child(media, "MediaFile", file_name)
    return x.to_bytes(res)


def _format_of(file_name: str) -> str:
    return file_name.rsplit(".", 1)[1].upper()


def _page_xml(page: Page, ids: _Ids, fonts: dict[str, str], images: dict[bytes, tuple[str, str]]) -> bytes:
    root = x.root("Page")
    layer = x.child(x.child(root, "Content"), "Layer", ID=ids.take())
    for item in page.items:
        if isinstance(item, Text):
            for line_box, line in _lines(item):
                _text_object(layer, ids.take(), item, fonts[item.font], line_box, line)
        else:
            x.child(
                layer,
                "ImageObject",
                ID=ids.take(),
                Boundary=box(item.x, item.y, item.width, item.height),
                CTM=f"{num(item.width)} 0 0 {num(item.height)} 0 0",
                ResourceID=images[item.data][0],
            )
    return x.to_bytes(root)


def _lines(text: Text) -> Iterator[tuple[tuple[float, float, float, float], str]]:
    step = text.size * text.line_height
    for n, line in enumerate(wrap(text.text, text.size, text.width)):
        if line:
            width = sum(advance(c, text.size) for c in line)
            yield (text.x, text.y + n * step, width, step), line


def _text_object(
    layer: Any, object_id: str, text: Text, font_id: str, line_box: tuple[float, ...], line: str
) -> None:
    obj = x.child(
        layer, "TextObject", ID=object_id, Boundary=box(*line_box), Font=font_id, Size=num(text.size)
    )
    if text.color != (0, 0, 0):
        x.child(obj, "FillColor", Value=" ".join(str(c) for c in text.color))
    code = x.child(obj, "TextCode", line, X="0", Y=num(text.size * _BASELINE))
    if len(line) > 1:
        code.set("DeltaX", " ".join(num(advance(c, text.size)) for c in line[:-1]))


def _attachments_xml(document: OfdDocument, attachment_ids: list[str]) -> bytes:
    root = x.root("Attachments")
    for attachment, attachment_id in zip(document.attachments, attachment_ids, strict=True):
        node = x.child(
            root,
            "Attachment",
            ID=attachment_id,
            Name=attachment.title or attachment.file_name,
            Format=attachment.format or attachment.file_name.rpartition(".")[2].lower(),
            CreationDate=ofd_moment(attachment.created),
            Size=num(len(attachment.data) / 1024),
            Visible="true" if attachment.visible else "false",
        )
        x.child(node, "FileLoc", attachment.file_name)
    return x.to_bytes(root)
