"""OFD XML with lxml: the namespace, building elements, serialising, and parsing parts from outside safely."""

from __future__ import annotations

from typing import Any

from lxml import etree

from baohan.adapters.documents.ofd.errors import OfdError

OFD_NS = "http://www.ofdspec.org/2016"
_NSMAP = {"ofd": OFD_NS}
# Parts come from counterparties: no DTDs, no entities, no network, no huge trees.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


def q(tag: str) -> str:
    """The qualified name of an OFD element (``Page`` → ``{http://www.ofdspec.org/2016}Page``)."""
    return f"{{{OFD_NS}}}{tag}"


def root(tag: str, **attributes: str) -> Any:
    """A new OFD root element with the ``ofd`` prefix declared."""
    return etree.Element(q(tag), attrib=attributes, nsmap=_NSMAP)


def child(parent: Any, tag: str, text: str | None = None, **attributes: str) -> Any:
    """Append an OFD element to ``parent`` with optional text and attributes; returns it."""
    element = etree.SubElement(parent, q(tag), attrib=attributes)
    if text is not None:
        element.text = text
    return element


_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def to_bytes(element: Any) -> bytes:
    """UTF-8 XML with the usual declaration and no added whitespace: what the bytes are is what gets hashed."""
    return _DECLARATION + bytes(etree.tostring(element, encoding="UTF-8", xml_declaration=False))


def parse(data: bytes, part: str) -> Any:
    """The root element of an XML part; malformed XML is an :class:`OfdError` naming the part."""
    try:
        return etree.fromstring(data, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise OfdError(f"{part} is not well-formed XML: {exc}") from None


def find(element: Any, path: str) -> Any:
    """The first OFD descendant at ``path`` (``DocBody/DocRoot``), or None."""
    return element.find(_qualify(path))


def find_all(element: Any, path: str) -> list[Any]:
    """Every OFD descendant at ``path``."""
    return list(element.findall(_qualify(path)))


def text_of(element: Any, path: str, part: str) -> str:
    """The stripped text at ``path``; a missing or empty element is an :class:`OfdError`."""
    found = find(element, path)
    if found is None or not (found.text or "").strip():
        raise OfdError(f"{part} has no {path}")
    return str(found.text).strip()


def _qualify(path: str) -> str:
    return "/".join(q(step) for step in path.split("/"))
