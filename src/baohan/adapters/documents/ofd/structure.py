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
    """The first ``DocBody`` of OFD.xml (this library handles one document per package)."""
    body = x.find(x.parse(part(package, ENTRY), ENTRY), "DocBody")
    if body is None:
        raise OfdError("OFD.xml has no DocBody")
    return body


def layout(package: OfdPackage) -> Layout:
    """The document root, pages and signature list of the package's first document."""
    body = doc_body(package)
    document = resolve(ENTRY, x.text_of(body, "DocRoot", ENTRY))
    root = x.parse(part(package, document), document)
    pages = tuple(
        (page.get("ID", ""), resolve(document, page.get("BaseLoc", "")))
        for page in x.find_all(root, "Pages/Page")
    )
    if not pages:
        raise OfdError(f"{document} lists no pages")
    signatures = x.find(body, "Signatures")
    located = (
        resolve(ENTRY, signatures.text)
        if signatures is not None and (signatures.text or "").strip()
        else None
    )
    return Layout(document, pages, located)


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
