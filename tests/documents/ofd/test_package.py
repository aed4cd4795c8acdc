"""The OFD container: locations resolve safely, equal parts give equal bytes, and bad packages are refused."""

from __future__ import annotations

import io
import zipfile

import pytest

from baohan.adapters.documents.ofd import OfdError, OfdPackage
from baohan.adapters.documents.ofd.package import ZIP_TIME, absolute, resolve


def test_resolve_handles_absolute_and_relative_locations() -> None:
    assert resolve("Doc_0/Document.xml", "Pages/Page_0/Content.xml") == "Doc_0/Pages/Page_0/Content.xml"
    assert resolve("Doc_0/Signs/Signatures.xml", "/Doc_0/Signs/Sign_0/Signature.xml") == (
        "Doc_0/Signs/Sign_0/Signature.xml"
    )
    assert resolve("Doc_0/Signs/Sign_0/Signature.xml", "../../Document.xml") == "Doc_0/Document.xml"
    assert absolute("Doc_0/Document.xml") == "/Doc_0/Document.xml"


@pytest.mark.parametrize("location", ["../../etc/passwd", "/../x", "", "a\\b"])
def test_resolve_refuses_locations_outside_the_package(location: str) -> None:
    with pytest.raises(OfdError):
        resolve("Doc_0/Document.xml", location)


def test_same_parts_give_the_same_bytes_with_fixed_times() -> None:
    parts = {"OFD.xml": b"<x/>", "Doc_0/Document.xml": "<文档/>".encode()}
    first, second = OfdPackage(parts).to_bytes(), OfdPackage(dict(parts)).to_bytes()
    assert first == second
    infos = zipfile.ZipFile(io.BytesIO(first)).infolist()
    assert [i.filename for i in infos] == list(parts)
    assert {i.date_time for i in infos} == {ZIP_TIME}
    assert OfdPackage.read(first) == parts


def test_read_refuses_what_is_not_an_ofd_package() -> None:
    with pytest.raises(OfdError, match="not a ZIP"):
        OfdPackage.read(b"PK\x03\x04 not really")
    with pytest.raises(OfdError, match=r"no OFD\.xml"):
        OfdPackage.read(OfdPackage({"Doc_0/Document.xml": b"<x/>"}).to_bytes())


def test_read_refuses_a_package_that_unpacks_too_large() -> None:
    big = OfdPackage({"OFD.xml": b"<x/>", "Doc_0/Res/big.bin": bytes(200_000)}).to_bytes()
    assert len(big) < 10_000
    with pytest.raises(OfdError, match="unpacks to more than"):
        OfdPackage.read(big, max_total_size=100_000)


def test_read_refuses_entries_that_escape_the_package() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("OFD.xml", b"<x/>")
        archive.writestr("../evil.xml", b"<x/>")
    with pytest.raises(OfdError, match="outside the package"):
        OfdPackage.read(out.getvalue())


def test_put_refuses_names_that_are_not_plain_paths() -> None:
    package = OfdPackage()
    for name in ("/OFD.xml", "Doc_0/../OFD.xml", "Doc_0//x.xml"):
        with pytest.raises(OfdError):
            package.put(name, b"")
