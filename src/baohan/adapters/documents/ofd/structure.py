"""Finding one's way in an OFD package: the document root, its pages and its signature list."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.package import OfdPackage, resolve

ENTRY = "OFD.xml"


@dataclass(frozen=True)
class SignatureEntry:
    """One line of Signatures.xml: the signature's id, its type (``Seal`` or ``Sign``) and its part."""

    signature_id: str
    kind: str
    part: str


@dataclass(frozen=True)
class Layout:
    """Where the first document of a package keeps its root, pages and signature list."""

    document: str
    pages: tuple[tuple[str, str], ...]  # (page id, content part), in page order
    signatures: str | None  # the Signatures.xml part OFD.xml names, if any


def part(package: OfdPackage, name: str) -> bytes:
    """The bytes of part ``name``; a missing part is an :class:`OfdError`."""
    try:
        return package[name]
    except KeyError:
        raise OfdError(f"the package has no {name}") from None


def doc_body(package: OfdPackage) -> Any:
    """The first ``DocBody`` of OFD.xml, the document this library writes and seals."""
    body = x.find(x.parse(part(package, ENTRY), ENTRY), "DocBody")
    if body is None:
        raise OfdError("OFD.xml has no DocBody")
    return body


def documents(package: OfdPackage) -> list[tuple[str, str | None]]:
    """Each document OFD.xml lists: its Document.xml part and its Signatures.xml part, if any."""
    bodies = x.find_all(x.parse(part(package, ENTRY), ENTRY), "DocBody")
    if not bodies:
        raise OfdError("OFD.xml has no DocBody")
    found = []
    for body in bodies:
        signatures = x.find(body, "Signatures")
        listed = (signatures.text or "").strip() if signatures is not None else ""
        found.append(
            (resolve(ENTRY, x.text_of(body, "DocRoot", ENTRY)), resolve(ENTRY, listed) if listed else None)
        )
    return found


def pages(package: OfdPackage, document: str) -> tuple[tuple[str, str], ...]:
    """(page id, content part) of every page of ``document``, in order; a document needs one page at least."""
    root = x.parse(part(package, document), document)
    found = tuple(
        (page.get("ID", ""), resolve(document, page.get("BaseLoc", "")))
        for page in x.find_all(root, "Pages/Page")
    )
    if not found:
        raise OfdError(f"{document} lists no pages")
    return found


def page_box(package: OfdPackage, document: str, content: str) -> tuple[float, ...] | None:
    """A page's PhysicalBox (x, y, width, height in mm): its own, else the document's; None if neither says."""
    for owner, path in ((content, "Area/PhysicalBox"), (document, "CommonData/PageArea/PhysicalBox")):
        found = x.find(x.parse(part(package, owner), owner), path)
        if found is not None and found.text:
            try:
                numbers = tuple(float(v) for v in found.text.split())
            except ValueError:
                raise OfdError(f"{owner} has a PhysicalBox that is not four numbers") from None
            if len(numbers) == 4:
                return numbers
            raise OfdError(f"{owner} has a PhysicalBox that is not four numbers")
    return None


def layout(package: OfdPackage) -> Layout:
    """The document root, pages and signature list of the package's first document."""
    document, signatures = documents(package)[0]
    return Layout(document, pages(package, document), signatures)


def signature_entries(package: OfdPackage, signatures_part: str) -> list[SignatureEntry]:
    """The signatures Signatures.xml lists, in order; ``Type`` defaults to ``Seal`` as GB/T 33190 says."""
    root = x.parse(part(package, signatures_part), signatures_part)
    return [
        SignatureEntry(
            signature_id=node.get("ID", ""),
            kind=node.get("Type", "Seal"),
            part=resolve(signatures_part, node.get("BaseLoc", "")),
        )
        for node in x.find_all(root, "Signature")
    ]


def folder(part_name: str) -> str:
    """The folder of a part (``Doc_0/Signs`` for ``Doc_0/Signs/Signatures.xml``)."""
    return posixpath.dirname(part_name)
