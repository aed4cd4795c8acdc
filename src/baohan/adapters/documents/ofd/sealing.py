"""Sealing an OFD document (GB/T 33190 §18 with a GB/T 38540 seal): a new ``Sign_k`` folder holding
Signature.xml (an SM3 digest of every other part, the stamp's place on the page) and SignedValue.dat (the
SES_Signature over Signature.xml), listed in Signatures.xml.

Only Signatures.xml is changed in place, and no signature covers it, so sealing a sealed document adds a
signature and leaves the earlier ones valid. OFD.xml changes only when it named no signature list yet.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.package import OfdPackage, absolute
from baohan.adapters.documents.ofd.ses import sign_document
from baohan.adapters.documents.ofd.structure import ENTRY, Layout, doc_body, folder, layout, page_box
from baohan.adapters.documents.ofd.writer import box
from baohan.gm import SM2Certificate, SM2PrivateKey, sm3
from baohan.gm.oids import SM3, SM3_WITH_SM2

PROVIDER = {"ProviderName": "baohan", "Company": "baohan", "Version": "1"}


@dataclass(frozen=True)
class Stamp:
    """Where the seal's picture goes: a page (0 for the first) and a box in millimetres."""

    page: int = 0
    x: float = 140.0
    y: float = 230.0
    width: float = 40.0
    height: float = 40.0

    def __post_init__(self) -> None:
        if self.page < 0 or not (self.width > 0 and self.height > 0):
            raise OfdError("a stamp needs a page index from 0 and a positive size")


def seal_ofd(
    ofd: bytes,
    seal: bytes,
    key: SM2PrivateKey,
    cert: SM2Certificate,
    *,
    stamp: Stamp | None = None,
    at: datetime | None = None,
) -> bytes:
    """``ofd`` with one more seal: the SESeal ``seal`` used by ``cert`` (one of its users) at ``stamp``."""
    moment = at or datetime.now(UTC)
    if moment.utcoffset() is None:
        raise OfdError("the sealing time must be timezone-aware")
    place = stamp or Stamp()
    package = OfdPackage.read(ofd)
    found = _with_signature_list(package)
    if place.page >= len(found.pages):
        raise OfdError(f"the document has {len(found.pages)} page(s); there is no page {place.page}")
    assert found.signatures is not None  # _with_signature_list named one
    _check_on_page(package, found, place)
    signatures = (
        x.parse(package[found.signatures], found.signatures)
        if found.signatures in package
        else x.root("Signatures")
    )
    signature_id, stamp_id = _next_ids(signatures)
    sign_folder = _free_folder(package, folder(found.signatures))
    signature_part, value_part = f"{sign_folder}/Signature.xml", f"{sign_folder}/SignedValue.dat"
    signature_xml = _signature_xml(
        package, found.signatures, moment, stamp_id, found.pages[place.page][0], place, value_part
    )
    package.put(signature_part, signature_xml)
    package.put(
        value_part, sign_document(seal, signature_xml, absolute(signature_part), key, cert, at=moment)
    )
    _list_signature(signatures, signature_id, absolute(signature_part))
    package.put(found.signatures, x.to_bytes(signatures))
    return package.to_bytes()


def _with_signature_list(package: OfdPackage) -> Layout:
    found = layout(package)
    if found.signatures is not None:
        return found
    body = doc_body(package)
    signatures = f"{folder(found.document)}/Signs/Signatures.xml"
    # GB/T 33190 orders DocBody as DocInfo, DocRoot, Versions, Signatures: Signatures goes last.
    x.child(body, "Signatures", signatures)
    package.put(ENTRY, x.to_bytes(body.getroottree().getroot()))
    return Layout(found.document, found.pages, signatures)


def _check_on_page(package: OfdPackage, found: Layout, place: Stamp) -> None:
    """A stamp off the page would be a seal nobody sees: refuse it."""
    bounds = page_box(package, found.document, found.pages[place.page][1])
    if bounds is None:
        return
    left, top, width, height = bounds
    if not (
        left <= place.x
        and top <= place.y
        and place.x + place.width <= left + width + 1e-6
        and place.y + place.height <= top + height + 1e-6
    ):
        raise OfdError(
            f"the stamp {box(place.x, place.y, place.width, place.height)} is not within page {place.page} ({box(*bounds)})"
        )


def _next_ids(signatures: Any) -> tuple[str, str]:
    """Fresh ids for the signature and its stamp, after MaxSignId and every id already listed."""
    taken = [
        int(node.get("ID")) for node in x.find_all(signatures, "Signature") if node.get("ID", "").isdigit()
    ]
    max_node = x.find(signatures, "MaxSignId")
    if max_node is not None and (max_node.text or "").strip().isdigit():
        taken.append(int(max_node.text.strip()))
    top = max(taken, default=0)
    if max_node is None:
        max_node = signatures.makeelement(x.q("MaxSignId"))
        signatures.insert(0, max_node)  # MaxSignId comes before the Signature entries
    max_node.text = str(top + 2)
    return str(top + 1), str(top + 2)


def _list_signature(signatures: Any, signature_id: str, location: str) -> None:
    """Add the entry after the last one listed (some writers put MaxSignId last; their order is kept)."""
    entry = signatures.makeelement(x.q("Signature"), ID=signature_id, Type="Seal", BaseLoc=location)
    listed = x.find_all(signatures, "Signature")
    if listed:
        listed[-1].addnext(entry)
    else:
        signatures.append(entry)


def _free_folder(package: OfdPackage, signs: str) -> str:
    for n in itertools.count():
        candidate = f"{signs}/Sign_{n}"
        if not any(name.startswith(candidate + "/") for name in package):
            return candidate
    raise AssertionError("unreachable")


def _signature_xml(
    package: OfdPackage,
    signatures_part: str,
    moment: datetime,
    stamp_id: str,
    page_id: str,
    place: Stamp,
    value_part: str,
) -> bytes:
    root = x.root("Signature")
    info = x.child(root, "SignedInfo")
    x.child(info, "Provider", **PROVIDER)
    x.child(info, "SignatureMethod", SM3_WITH_SM2)
    x.child(info, "SignatureDateTime", moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ"))
    references = x.child(info, "References", CheckMethod=SM3)
    for name, data in package.items():
        if name == signatures_part:
            continue  # the list of signatures changes with every seal; nothing may cover it
        reference = x.child(references, "Reference", FileRef=absolute(name))
        x.child(reference, "CheckValue", base64.b64encode(sm3(data)).decode("ascii"))
    x.child(
        info,
        "StampAnnot",
        ID=stamp_id,
        PageRef=page_id,
        Boundary=box(place.x, place.y, place.width, place.height),
    )
    x.child(root, "SignedValue", absolute(value_part))
    return x.to_bytes(root)
