"""What an OFD document says, independent of how it is laid out in the package: pages of text and
images, attachments, and the document's metadata. Lengths are millimetres, the OFD unit."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from baohan.adapters.documents.ofd.errors import OfdError

A4 = (210.0, 297.0)
_FILE_NAME = re.compile(r"^[\w.\-\u4e00-\u9fff]{1,100}$")


# XML 1.0 allows no C0 control character but tab, line feed and carriage return (and no lone surrogate).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(name: str, *values: str) -> None:
    if any(_NOT_XML.search(v) for v in values):
        raise OfdError(f"{name} holds a control character XML cannot carry")


def _positive(name: str, *values: float) -> None:
    if any(not v > 0 for v in values):
        raise OfdError(f"{name} must be positive")


@dataclass(frozen=True)
class Text:
    """A run of text at (x, y), the top left of its first line; wrapped to ``width`` when given.

    The font is named, never embedded: a reader substitutes its own face for ``font``.
    """

    text: str
    x: float
    y: float
    size: float = 4.2  # about 12 pt
    font: str = "宋体"
    width: float | None = None
    line_height: float = 1.5  # in multiples of size
    color: tuple[int, int, int] = (0, 0, 0)

    def __post_init__(self) -> None:
        if not self.text:
            raise OfdError("text must not be empty")
        _xml_text("text", self.text, self.font)
        if not self.font.strip():
            raise OfdError("font must name a font")
        _positive("text size", self.size)
        _positive("line_height", self.line_height)
        if self.width is not None:
            _positive("text width", self.width)
        if any(not 0 <= c <= 255 for c in self.color):
            raise OfdError("color components must be within 0..255")


@dataclass(frozen=True)
class Image:
    """A PNG or JPEG picture drawn into the box (x, y, width, height)."""

    data: bytes
    x: float
    y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        _positive("image size", self.width, self.height)
        image_format(self.data)

    @property
    def format(self) -> str:
        """``PNG`` or ``JPEG``, read from the picture's own bytes."""
        return image_format(self.data)


def image_format(data: bytes) -> str:
    """``PNG`` or ``JPEG`` by the file signature; anything else is an :class:`OfdError`."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    raise OfdError("an image must be PNG or JPEG")


@dataclass(frozen=True)
class Page:
    """One page: its texts and images, drawn in order."""

    items: Sequence[Text | Image]


@dataclass(frozen=True)
class Attachment:
    """A file carried inside the document, stored byte for byte as given (a sealed OFD stays sealed)."""

    file_name: str
    data: bytes
    created: datetime
    title: str = ""
    format: str = ""
    visible: bool = True

    def __post_init__(self) -> None:
        if not _FILE_NAME.fullmatch(self.file_name) or self.file_name.startswith("."):
            raise OfdError(f"attachment file_name {self.file_name!r} must be a plain file name")
        if self.file_name.lower() == "attachments.xml":
            raise OfdError("attachment file_name Attachments.xml is the attachment list's own name")
        if self.created.utcoffset() is None:
            raise OfdError("attachment created must be timezone-aware")
        _xml_text("attachment title or format", self.title, self.format)


@dataclass(frozen=True)
class OfdDocument:
    """A one-document OFD: its id, title, creation time, pages and attachments."""

    doc_id: str
    title: str
    created: datetime
    pages: Sequence[Page]
    attachments: Sequence[Attachment] = ()
    author: str = ""
    custom_data: Mapping[str, str] = field(default_factory=dict)
    page_size: tuple[float, float] = A4

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", self.doc_id):
            raise OfdError("doc_id must be 1-64 letters, digits, '-' or '_'")
        if self.created.utcoffset() is None:
            raise OfdError("created must be timezone-aware")
        _xml_text(
            "title, author or custom_data",
            self.title,
            self.author,
            *self.custom_data,
            *self.custom_data.values(),
        )
        if not self.pages:
            raise OfdError("a document needs at least one page")
        _positive("page_size", *self.page_size)
        names = [a.file_name for a in self.attachments]
        if len(set(names)) != len(names):
            raise OfdError("attachment file names must be unique")
