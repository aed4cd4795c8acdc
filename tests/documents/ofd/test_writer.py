"""The OFD writer: GB/T 33190 parts that say what the document says, named fonts, the picture, attachments
kept byte for byte, and the same bytes for the same document."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree

from baohan.adapters.documents.ofd import (
    Attachment,
    Image,
    OfdDocument,
    OfdError,
    OfdPackage,
    Page,
    Text,
    write_ofd,
)
from baohan.adapters.documents.ofd.writer import HALF_WIDTH, wrap
from baohan.adapters.documents.ofd.xmlparts import OFD_NS
from tests.documents.ofd.conftest import GUARANTEE_NO, NOW, SealKit, guarantee_document

NS = {"ofd": OFD_NS}


def _xml(package: OfdPackage, name: str) -> etree._Element:
    data = package[name]
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return etree.fromstring(data)


def test_the_parts_form_a_gb_t_33190_document(kit: SealKit, guarantee_ofd: bytes) -> None:
    package = OfdPackage.read(guarantee_ofd)
    ofd = _xml(package, "OFD.xml")
    assert ofd.tag == f"{{{OFD_NS}}}OFD" and ofd.get("DocType") == "OFD"
    assert ofd.findtext("ofd:DocBody/ofd:DocRoot", namespaces=NS) == "Doc_0/Document.xml"
    assert (
        ofd.findtext("ofd:DocBody/ofd:DocInfo/ofd:CustomDatas/ofd:CustomData", namespaces=NS) == GUARANTEE_NO
    )
    document = _xml(package, "Doc_0/Document.xml")
    assert document.findtext("ofd:CommonData/ofd:PageArea/ofd:PhysicalBox", namespaces=NS) == "0 0 210 297"
    page_ref = document.find("ofd:Pages/ofd:Page", namespaces=NS)
    assert page_ref.get("BaseLoc") == "Pages/Page_0/Content.xml"
    # Fonts are named for the reader to substitute: no font file is embedded.
    fonts = _xml(package, "Doc_0/PublicRes.xml").findall("ofd:Fonts/ofd:Font", namespaces=NS)
    assert [f.get("FontName") for f in fonts] == ["黑体", "宋体"]
    assert not any(f.find("ofd:FontFile", namespaces=NS) is not None for f in fonts)
    media = _xml(package, "Doc_0/DocumentRes.xml").find("ofd:MultiMedias/ofd:MultiMedia", namespaces=NS)
    assert media.get("Format") == "PNG"
    assert package[f"Doc_0/Res/{media.findtext('ofd:MediaFile', namespaces=NS)}"] == kit.picture
    # Every id is unique and MaxUnitID is the largest.
    ids = [
        int(e.get("ID"))
        for name in package
        if name.endswith(".xml")
        for e in _xml(package, name).iter()
        if e.get("ID")
    ]
    assert len(ids) == len(set(ids))
    assert int(document.findtext("ofd:CommonData/ofd:MaxUnitID", namespaces=NS)) == max(ids)


def test_a_page_carries_the_text_with_a_pen_advance_per_character(guarantee_ofd: bytes) -> None:
    page = _xml(OfdPackage.read(guarantee_ofd), "Doc_0/Pages/Page_0/Content.xml")
    codes = page.findall(".//ofd:TextObject/ofd:TextCode", namespaces=NS)
    texts = [c.text for c in codes]
    assert f"保函编号：{GUARANTEE_NO}" in texts
    assert any(t.startswith(GUARANTEE_NO) for t in texts), "the wrapped number moves to the next line whole"
    for code in codes:
        assert len(code.get("DeltaX", "").split()) == len(code.text) - 1
    number = next(c for c in codes if c.text == f"保函编号：{GUARANTEE_NO}")
    assert number.get("DeltaX").split()[:6] == ["4.2"] * 5 + [f"{4.2 * HALF_WIDTH:g}"]
    image = page.find(".//ofd:ImageObject", namespaces=NS)
    assert image.get("Boundary") == "130 220 40 40" and image.get("CTM") == "40 0 0 40 0 0"


def test_wrap_breaks_at_the_width_and_keeps_words_whole() -> None:
    assert wrap("一二三四五", 10, 30) == ["一二三", "四五"]
    assert wrap("甲\n乙", 10, None) == ["甲", "乙"]
    assert wrap("编号 AB12345", 10, 50) == ["编号", "AB12345"]


def test_attachments_are_stored_byte_for_byte(kit: SealKit) -> None:
    inner = bytes(range(256)) * 10
    document = guarantee_document(
        kit, attachments=(Attachment("sealed.ofd", inner, NOW, title="已密封保函"),)
    )
    package = OfdPackage.read(write_ofd(document))
    assert package["Doc_0/Attachs/sealed.ofd"] == inner
    listed = _xml(package, "Doc_0/Attachs/Attachments.xml").find("ofd:Attachment", namespaces=NS)
    assert listed.get("Name") == "已密封保函" and listed.get("Format") == "ofd"
    assert listed.findtext("ofd:FileLoc", namespaces=NS) == "sealed.ofd"
    assert (
        _xml(package, "Doc_0/Document.xml").findtext("ofd:Attachments", namespaces=NS)
        == "Attachs/Attachments.xml"
    )


def test_the_same_document_gives_the_same_bytes(kit: SealKit) -> None:
    attachment = (Attachment("a.xml", b"<a/>", NOW),)
    first = write_ofd(guarantee_document(kit, attachments=attachment))
    assert write_ofd(guarantee_document(kit, attachments=attachment)) == first
    assert write_ofd(replace(guarantee_document(kit), title="另一份")) != write_ofd(guarantee_document(kit))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Text("", 0, 0), "text must not be empty"),
        (lambda: Text("x", 0, 0, size=0), "size must be positive"),
        (lambda: Text("a\x00b", 0, 0), "control character"),
        (lambda: OfdDocument("id", "t\x1b", NOW, pages=[Page([])]), "control character"),
        (lambda: Image(b"GIF89a", 0, 0, 1, 1), "PNG or JPEG"),
        (lambda: Attachment("../x.ofd", b"", NOW), "plain file name"),
        (lambda: Attachment("Attachments.xml", b"", NOW), "list's own name"),
        (lambda: Attachment("x.ofd", b"", datetime(2026, 1, 1)), "timezone-aware"),
        (lambda: OfdDocument("id", "t", NOW, pages=[]), "at least one page"),
        (lambda: OfdDocument("a/b", "t", NOW, pages=[Page([])]), "doc_id"),
        (
            lambda: OfdDocument(
                "id",
                "t",
                NOW,
                pages=[Page([])],
                attachments=[Attachment("a", b"", NOW), Attachment("a", b"", NOW)],
            ),
            "unique",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(build: object, message: str) -> None:
    with pytest.raises(OfdError, match=message):
        build()  # type: ignore[operator]


def test_creation_date_is_the_documents_own(kit: SealKit) -> None:
    document = replace(guarantee_document(kit), created=datetime(2026, 12, 31, 23, 0, tzinfo=UTC))
    ofd = _xml(OfdPackage.read(write_ofd(document)), "OFD.xml")
    assert ofd.findtext("ofd:DocBody/ofd:DocInfo/ofd:CreationDate", namespaces=NS) == "2026-12-31"
