"""Attachments (GB/T 33190 §20): written with their list, read back byte for byte, covered by every seal,
and still readable by ofdkit and easyofd."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from baohan.adapters.documents.ofd import (
    Attachment,
    OfdError,
    OfdPackage,
    read_attachments,
    seal_ofd,
    verify_ofd,
    write_ofd,
)
from baohan.adapters.documents.ofd.ses import sign_document
from baohan.adapters.documents.ofd.xmlparts import OFD_NS
from baohan.protocols.fields import SHANGHAI as BEIJING
from tests.documents.ofd.conftest import GUARANTEE_NO, KIT, NOW, SIGNATURE, VALUE, guarantee_document
from tests.documents.ofd.test_readers import _reader

NS = {"ofd": OFD_NS}
AGREEMENT = Attachment("agreement.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40, NOW, "投保协议", "pdf")
CERT = Attachment("bidder.cer", KIT.user.cert.to_der(), NOW, "投标人证书", "cer", visible=False)
WITH_FILES = seal_ofd(
    write_ofd(guarantee_document(KIT, attachments=(AGREEMENT, CERT))),
    KIT.seal,
    KIT.user.key,
    KIT.user.cert,
    at=NOW,
)


def _replace(ofd: bytes, name: str, data: bytes) -> bytes:
    package = OfdPackage.read(ofd)
    package.put(name, data)
    return package.to_bytes()


def test_attachments_come_back_as_they_went_in() -> None:
    assert read_attachments(WITH_FILES) == [AGREEMENT, CERT]
    listed = etree.fromstring(OfdPackage.read(WITH_FILES)["Doc_0/Attachs/Attachments.xml"])
    first = listed.find("ofd:Attachment", namespaces=NS)
    # GB/T 33190: Size in KB, CreationDate an xs:dateTime (Beijing time, as Chinese readers take it).
    assert first.get("CreationDate") == "2026-03-01T17:30:00"
    assert float(first.get("Size")) == pytest.approx(len(AGREEMENT.data) / 1024, abs=1e-3)
    assert first.get("Visible") == "true" and first.get("Format") == "pdf"
    assert read_attachments(write_ofd(guarantee_document(KIT))) == []


def test_real_invoices_attachments_are_read(samples: Path) -> None:
    (signed,) = read_attachments((samples / "signedFile.ofd").read_bytes())
    assert (signed.file_name, signed.title, signed.format, signed.visible) == (
        "original_invoice.xml",
        "original_invoice",
        "xml",
        False,
    )
    assert signed.created == datetime(2020, 10, 4, 15, 30, 5, tzinfo=BEIJING)
    assert signed.data.lstrip().startswith(b"<?xml")
    (v4,) = read_attachments((samples / "v4signed.ofd").read_bytes())  # "2020/10/10 15:11:19", no ID
    assert v4.created == datetime(2020, 10, 10, 7, 11, 19, tzinfo=UTC)


def test_a_listed_file_that_is_missing_is_an_error() -> None:
    package = OfdPackage.read(WITH_FILES)
    smaller = OfdPackage({n: d for n, d in package.items() if n != "Doc_0/Attachs/bidder.cer"})
    with pytest.raises(OfdError, match=r"no Doc_0/Attachs/bidder\.cer"):
        read_attachments(smaller.to_bytes())
    check = verify_ofd(smaller.to_bytes())
    assert not check.valid and "bidder.cer is missing" in check.reason


def test_the_seal_covers_the_attachment_list_and_files() -> None:
    assert verify_ofd(WITH_FILES, trusted=[KIT.ca]).valid
    package = OfdPackage.read(WITH_FILES)
    references = etree.fromstring(package[SIGNATURE]).find("ofd:SignedInfo/ofd:References", namespaces=NS)
    covered = {r.get("FileRef") for r in references}
    assert {
        "/Doc_0/Attachs/Attachments.xml",
        "/Doc_0/Attachs/agreement.pdf",
        "/Doc_0/Attachs/bidder.cer",
    } <= (covered)
    for name in ("Doc_0/Attachs/agreement.pdf", "Doc_0/Attachs/Attachments.xml"):
        data = bytearray(package[name])
        data[len(data) // 2] ^= 1
        check = verify_ofd(_replace(WITH_FILES, name, bytes(data)), trusted=[KIT.ca])
        assert not check.valid and f"/{name} does not match" in check.reason


def test_a_signature_that_leaves_an_attachment_out_is_refused() -> None:
    package = OfdPackage.read(WITH_FILES)
    signature = etree.fromstring(package[SIGNATURE])
    references = signature.find("ofd:SignedInfo/ofd:References", namespaces=NS)
    for reference in list(references):
        if reference.get("FileRef") == "/Doc_0/Attachs/agreement.pdf":
            references.remove(reference)
    narrower = etree.tostring(signature, xml_declaration=True, encoding="UTF-8")
    package.put(SIGNATURE, narrower)
    package.put(
        VALUE, sign_document(KIT.seal, narrower, "/" + SIGNATURE, KIT.user.key, KIT.user.cert, at=NOW)
    )
    # The attachment may now change unseen: the verifier must not call that document sealed.
    package.put("Doc_0/Attachs/agreement.pdf", b"%PDF-1.7 another agreement")
    check = verify_ofd(package.to_bytes(), trusted=[KIT.ca])
    assert not check.valid
    assert check.reason.endswith("the signature does not cover /Doc_0/Attachs/agreement.pdf")


def test_ofdkit_reads_a_document_with_attachments() -> None:
    ofdkit = _reader("ofdkit")
    with ofdkit.open(WITH_FILES) as document:
        text = document.text()
        assert document.invoice() is None  # walks the attachment list looking for an invoice
        assert document.warnings == []
    assert f"保函编号：{GUARANTEE_NO}" in text


def test_easyofd_renders_a_document_with_attachments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    easyofd = _reader("easyofd")
    monkeypatch.chdir(tmp_path)
    reader = easyofd.OFD()
    reader.read(base64.b64encode(WITH_FILES).decode("ascii"), fmt="b64")
    try:
        pages = reader.to_jpg()
    finally:
        reader.del_data()
    assert len(pages) == 1 and pages[0].width > 0
