"""The guarantee files of a tender application, sealed (filetype 1) and plain (2): where their bytes are,
their digest, their SM4 key and iv (sealed at rest), and how far their upload went.

The issuer's row follows the file it sends; the platform's the file it receives (the slices staged under
``upload_id``, then kept as ``file_id``). A file is complete only with its digest, key and iv.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import TenderApplication, TenderGuaranteeFile
from baohan.adapters.keystore import SecretBox
from baohan.domain.ids import new_id

FileType = Literal["sealed", "plain"]
FILETYPES: dict[str, FileType] = {"1": "sealed", "2": "plain"}  # the wire's filetype
DIGESTS = {"md5": 32, "sm3": 64}  # hex lengths
KEY_BYTES = 16


def file_key_context(row_id: str, part: str) -> str:
    """The record a file's sealed SM4 ``part`` (key or iv) belongs to."""
    return f"tender_file:{row_id}:{part}"


class GuaranteeFiles:
    """The guarantee files' records; key and iv sealed by ``box``."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def get(self, session: Session, app: TenderApplication, filetype: FileType) -> TenderGuaranteeFile | None:
        """The ``filetype`` file of ``app``, or None when none was started."""
        return session.scalars(
            select(TenderGuaranteeFile).where(
                TenderGuaranteeFile.application_pk == app.id, TenderGuaranteeFile.filetype == filetype
            )
        ).first()

    def start(
        self, session: Session, app: TenderApplication, filetype: FileType, *, now: datetime
    ) -> TenderGuaranteeFile:
        """The ``filetype`` file of ``app``, made (pending) when absent; ValueError for an unknown filetype."""
        if filetype not in FILETYPES.values():
            raise ValueError(f"filetype: must be sealed or plain, not {filetype!r}")
        row = self.get(session, app, filetype)
        if row is None:
            row = TenderGuaranteeFile(
                id=new_id(), application_pk=app.id, filetype=filetype, state="pending", created_at=now
            )
            session.add(row)
            session.flush()
        return row

    def uploading(self, row: TenderGuaranteeFile, upload_id: str) -> None:
        """Slices are arriving (or going out) under ``upload_id``."""
        self._open(row)
        row.upload_id, row.state = upload_id, "uploading"

    def stored(
        self, row: TenderGuaranteeFile, *, file_id: str, digest: str, method: str, slices: int
    ) -> None:
        """Every slice is up and the file is kept as ``file_id``, its whole-file ``digest`` (hex, by ``method``)."""
        self._open(row)
        length = DIGESTS.get(method)
        if length is None:
            raise ValueError(f"digest method must be md5 or sm3, not {method!r}")
        if len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"baohanfilemd5: {method} digest must be {length} lowercase hex characters")
        if slices < 1:
            raise ValueError("index: a file has at least one slice")
        row.file_id, row.digest, row.digest_method, row.slices = file_id, digest, method, slices
        row.state = "uploaded"

    def seal_keys(self, row: TenderGuaranteeFile, key: bytes, iv: bytes) -> None:
        """Keep the file's SM4 key and iv, sealed at rest."""
        for name, value in (("key", key), ("iv", iv)):
            if len(value) != KEY_BYTES:
                raise ValueError(f"{name}: must be {KEY_BYTES} bytes, got {len(value)}")
        row.key_sealed = self._box.seal(key, context=file_key_context(row.id, "key"))
        row.iv_sealed = self._box.seal(iv, context=file_key_context(row.id, "iv"))

    def keys(self, row: TenderGuaranteeFile) -> tuple[bytes, bytes] | None:
        """The file's SM4 key and iv, opened from the key store, or None before they are known."""
        if row.key_sealed is None or row.iv_sealed is None:
            return None
        return (
            self._box.open(row.key_sealed, context=file_key_context(row.id, "key")),
            self._box.open(row.iv_sealed, context=file_key_context(row.id, "iv")),
        )

    def complete(self, row: TenderGuaranteeFile, *, now: datetime) -> None:
        """The completion notice was accepted (sent or received): the file is final."""
        self._open(row)
        missing = [
            name
            for name, value in (("file", row.file_id), ("digest", row.digest), ("key", row.key_sealed))
            if value is None
        ]
        if missing:
            raise ValueError(f"{row.filetype} file cannot complete without its {', '.join(missing)}")
        row.state, row.completed_at = "completed", now

    def refuse(self, row: TenderGuaranteeFile) -> None:
        """The file failed its checks (digest, decryption, seals): it must be sent again from the start."""
        self._open(row)
        row.state, row.file_id, row.upload_id, row.digest, row.slices = "refused", None, None, None, None

    def restart(self, row: TenderGuaranteeFile) -> None:
        """Begin a refused file again."""
        if row.state != "refused":
            raise ValueError(f"the {row.filetype} file is {row.state}, not refused")
        row.state = "pending"

    @staticmethod
    def _open(row: TenderGuaranteeFile) -> None:
        if row.state in ("completed", "refused"):
            raise ValueError(f"the {row.filetype} file is already {row.state}")
