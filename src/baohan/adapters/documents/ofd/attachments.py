"""Reading attachments back out of an OFD (GB/T 33190 §20): the list Document.xml names in
``<ofd:Attachments>``, each ``<ofd:Attachment>`` with its ``<ofd:FileLoc>``, the file returned byte for byte."""

from __future__ import annotations

import posixpath
import re
from datetime import datetime
from typing import Any

from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.model import Attachment
from baohan.adapters.documents.ofd.package import OfdPackage, resolve
from baohan.adapters.documents.ofd.structure import layout, part
from baohan.protocols.fields import SHANGHAI

# An OFD CreationDate carries no offset; Chinese writers mean Beijing time (UTC+8 all year since 1991).
_MOMENT = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def listed_attachments(package: OfdPackage, document: str) -> tuple[str | None, list[tuple[Any, str]]]:
    """The Attachments.xml part ``document`` names (None when it names none) and each entry's node with the
    part its FileLoc points at, in order; a list or file that is not there is an :class:`OfdError`."""
    listed = x.find(x.parse(part(package, document), document), "Attachments")
    location = (listed.text or "").strip() if listed is not None else ""
    if not location:
        return None, []
    attachments = resolve(document, location)
    entries = []
    for node in x.find_all(x.parse(part(package, attachments), attachments), "Attachment"):
        file_part = resolve(attachments, x.text_of(node, "FileLoc", attachments))
        part(package, file_part)
        entries.append((node, file_part))
    return attachments, entries


def read_attachments(ofd: bytes) -> list[Attachment]:
    """Every attachment of the first document of ``ofd``, in list order, its bytes exactly as stored."""
    package = OfdPackage.read(ofd)
    attachments, entries = listed_attachments(package, layout(package).document)
    return [
        Attachment(
            file_name=posixpath.basename(file_part),
            data=package[file_part],
            created=_moment(node.get("CreationDate", ""), str(attachments)),
            title=node.get("Name", ""),
            format=node.get("Format", ""),
            visible=node.get("Visible", "true").strip().lower() != "false",
        )
        for node, file_part in entries
    ]


def ofd_moment(moment: datetime) -> str:
    """A timezone-aware time as an OFD CreationDate: Beijing time to the second, no offset."""
    return moment.astimezone(SHANGHAI).replace(microsecond=0, tzinfo=None).isoformat()


def _moment(text: str, where: str) -> datetime:
    """An OFD CreationDate (``2020-10-04T15:30:05``, or ``2020/10/10 15:11:19`` as some writers put it)."""
    match = _MOMENT.fullmatch(text.strip())
    if match is None:
        raise OfdError(f"{where}: an attachment's CreationDate {text!r} is not a date and time")
    year, month, day, hour, minute, second = (int(v) for v in match.groups(default="0"))
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)
    except ValueError:
        raise OfdError(f"{where}: an attachment's CreationDate {text!r} is not a date and time") from None
