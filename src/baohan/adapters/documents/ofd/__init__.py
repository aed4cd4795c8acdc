"""OFD documents (GB/T 33190) with GB/T 38540 seals: write, draw the seal, seal, verify. No protocol knowledge.

- :func:`write_ofd` turns an :class:`OfdDocument` (pages of :class:`Text` and :class:`Image`, attachments)
  into a deterministic OFD file; fonts are named, not embedded.
- :func:`draw_seal` draws the red round seal picture (PNG); :func:`make_seal` makes the SESeal.
- :func:`seal_ofd` adds a seal signature; :func:`verify_ofd` checks every signature of a document.
- :func:`read_attachments` gives the attached files back, byte for byte.
"""

from baohan.adapters.documents.ofd.attachments import read_attachments
from baohan.adapters.documents.ofd.errors import OfdError
from baohan.adapters.documents.ofd.model import A4, Attachment, Image, OfdDocument, Page, Text
from baohan.adapters.documents.ofd.package import OfdPackage
from baohan.adapters.documents.ofd.seal_picture import draw_seal
from baohan.adapters.documents.ofd.sealing import Stamp, seal_ofd
from baohan.adapters.documents.ofd.ses import SealSpec, make_seal
from baohan.adapters.documents.ofd.verify import OfdCheck, SignatureCheck, verify_ofd
from baohan.adapters.documents.ofd.writer import write_ofd

__all__ = [
    "A4",
    "Attachment",
    "Image",
    "OfdCheck",
    "OfdDocument",
    "OfdError",
    "OfdPackage",
    "Page",
    "SealSpec",
    "SignatureCheck",
    "Stamp",
    "Text",
    "draw_seal",
    "make_seal",
    "read_attachments",
    "seal_ofd",
    "verify_ofd",
    "write_ofd",
]
