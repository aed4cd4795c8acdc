"""The platform receives a guarantee file: slices staged in any order (a duplicate is harmless, other bytes
under a number already held are refused), then the completion notice opens the file key and iv with our
SM2 key, decrypts the slices in order straight into the file store, checks the digest and every signature
of the OFD. Nothing is complete until every check passed: a refusal raises, and the caller's transaction
rolls back whatever the attempt wrote, so a corrected completion may follow.

Memory: the decryption streams slice by slice; the OFD is read back once, whole, for its verification.
"""

from __future__ import annotations

import hmac
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import FileUploadSlice, TenderApplication, TenderGuaranteeFile
from baohan.adapters.documents.ofd import OfdCheck, OfdError, read_attachments, verify_ofd
from baohan.adapters.documents.tender_guarantee import SEALED_FILE
from baohan.adapters.files import FileStore
from baohan.adapters.uploads import IncompleteUpload, SliceConflict, Uploads
from baohan.gm import DecryptionError, SM2Certificate, sm3_hex
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.files import FileDigestMismatch, FileKey, decrypt_file
from baohan.protocols.tender.sealing import SealingError, open_file_secret
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.files import DIGESTS, FileType, GuaranteeFiles

NAMES: dict[FileType, str] = {
    "sealed": "sealed guarantee (filetype 1)",
    "plain": "plain guarantee (filetype 2)",
}


@dataclass(frozen=True, slots=True)
class Completion:
    """A completion notice's content: the SM2-sealed key and iv, and the announced digest."""

    key: str
    iv: str
    digest: str


class Reception:
    """Guarantee files arriving at the platform: their slices staged by ``uploads``, kept in ``store``."""

    def __init__(
        self,
        files: GuaranteeFiles,
        uploads: Uploads,
        store: FileStore,
        *,
        trusted: Sequence[SM2Certificate] | None = None,
    ) -> None:
        self.files = files
        self.uploads = uploads
        self.store = store
        # With CA certificates, every seal's signer and maker must chain to one of them.
        self.trusted = list(trusted) if trusted is not None else None

    def add_slice(
        self,
        session: Session,
        app: TenderApplication,
        filetype: FileType,
        index: int,
        data: bytes,
        *,
        now: datetime,
    ) -> bool:
        """Stage slice ``index`` of ``app``'s ``filetype`` file; False when it was already held (same bytes)."""
        row = self.files.start(session, app, filetype, now=now)
        if row.state == "completed":
            raise TenderError(f"filetype: the {NAMES[filetype]} of {app.applyno} is already complete")
        if row.state == "refused":
            self.files.restart(row)
        if row.upload_id is None:
            self.files.uploading(row, self.uploads.begin(session, f"{filetype}-guarantee.ofd"))
        assert row.upload_id is not None
        try:
            return self.uploads.add_slice(session, row.upload_id, index, data)
        except SliceConflict:
            raise TenderError(
                f"index: slice {index} of the {NAMES[filetype]} was already received with other bytes"
            ) from None
        except ValueError as exc:
            raise TenderError(str(exc)) from None

    def complete(
        self,
        session: Session,
        app: TenderApplication,
        filetype: FileType,
        completion: Completion,
        channel: TenderChannel,
        *,
        now: datetime,
        sealed_ofd: TenderGuaranteeFile | None = None,
    ) -> TenderGuaranteeFile:
        """Decrypt, check and keep the file; TenderError naming what failed (the caller rolls back then).

        For the plain file, ``sealed_ofd`` is the sealed one we hold: the plain OFD must carry it unchanged.
        """
        row = self.files.get(session, app, filetype)
        if row is None or row.upload_id is None:
            raise TenderError(f"filetype: no slice of the {NAMES[filetype]} of {app.applyno} was received")
        if row.state == "completed":
            raise TenderError(f"filetype: the {NAMES[filetype]} of {app.applyno} is already complete")
        profile = channel.profile
        digest = _digest(completion.digest, profile.file_digest)
        file_key = FileKey(
            *(_secret(text, name, channel) for name, text in (("key", completion.key), ("iv", completion.iv)))
        )
        count = self._check_slices(session, row.upload_id, profile.slice_size)

        def decrypt(slices: Iterator[bytes]) -> Iterable[bytes]:
            return decrypt_file(slices, file_key, digest=profile.file_digest, expected=digest)

        try:
            file_id = self.uploads.commit(session, row.upload_id, slices=count, transform=decrypt)
        except (DecryptionError, FileDigestMismatch, IncompleteUpload) as exc:
            raise TenderError(str(exc)) from None
        ofd = self._whole(session, file_id)
        check = verify_ofd(ofd, trusted=self.trusted)
        if not check.valid:
            raise TenderError(f"baohanfile: the {filetype} guarantee does not verify: {_why(check)}")
        if filetype == "plain":
            self._check_attached(session, ofd, sealed_ofd)
        del ofd
        self.files.stored(row, file_id=file_id, digest=digest, method=profile.file_digest, slices=count)
        self.files.seal_keys(row, file_key.key, file_key.iv)
        self.files.complete(row, now=now)
        return row

    def _whole(self, session: Session, file_id: str) -> bytes:
        """The stored file read once into memory (a BytesIO hands its buffer over; a join would hold the
        chunks and the whole at once)."""
        buffer = io.BytesIO()
        for chunk in self.store.open_stream(session, file_id):
            buffer.write(chunk)
        return buffer.getvalue()

    def _check_slices(self, session: Session, upload_id: str, slice_size: int) -> int:
        """The number of slices, once none is missing and none follows the file's last (a short) slice."""
        rows = session.execute(
            select(FileUploadSlice.number, FileUploadSlice.size).where(FileUploadSlice.upload_id == upload_id)
        )
        sizes = {number: size for number, size in rows}
        if not sizes:
            raise TenderError("index: no slice was received")
        last = max(sizes)
        missing = [n for n in range(1, last + 1) if n not in sizes]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise TenderError(f"index: slices {shown} are missing (received up to {last})")
        short = next((n for n in range(1, last) if sizes[n] != slice_size), None)
        if short is not None:
            extra = ", ".join(map(str, range(short + 1, last + 1)))
            raise TenderError(
                f"index: slice {short} is {sizes[short]} bytes, not the profile's {slice_size}: it is the "
                f"file's last, and slices {extra} are extra"
            )
        if sizes[last] > slice_size:
            raise TenderError(f"index: slice {last} is larger than the profile's slice size {slice_size}")
        return last

    def _check_attached(self, session: Session, ofd: bytes, sealed: TenderGuaranteeFile | None) -> None:
        if sealed is None or sealed.file_id is None or sealed.state != "completed":
            raise TenderError("filetype: the plain guarantee came before the sealed one was complete")
        try:
            attached = [a.data for a in read_attachments(ofd) if a.file_name == SEALED_FILE]
        except OfdError as exc:
            raise TenderError(f"baohanfile: the plain guarantee's attachments: {exc}") from None
        if len(attached) != 1:
            raise TenderError(
                f"baohanfile: the plain guarantee does not attach the sealed one ({SEALED_FILE})"
            )
        held = self.store.info(session, sealed.file_id).sm3
        if not hmac.compare_digest(sm3_hex(attached[0]), held):
            raise TenderError(
                "baohanfile: the sealed guarantee attached to the plain one is not the one we hold"
            )


def _why(check: OfdCheck) -> str:
    """The first reason a document does not verify, without the part it is in (the answer is short)."""
    bad = next((s for s in check.signatures if not s.valid), None)
    return bad.reason if bad is not None and not check.problem else check.reason


def _digest(text: str, method: str) -> str:
    length = DIGESTS[method]
    value = text.strip().lower()
    if len(value) != length or any(c not in "0123456789abcdef" for c in value):
        raise TenderError(f"baohanfilemd5: must be the {method} digest, {length} hex characters")
    return value


def _secret(text: str, name: str, channel: TenderChannel) -> bytes:
    profile = channel.profile
    try:
        return open_file_secret(
            text,
            channel.own_key,
            "key" if name == "key" else "iv",
            layout=profile.sm2_layout,
            prefix=profile.sm2_prefix,
            encoding=profile.encoding,
        )
    except SealingError as exc:
        raise TenderError(str(exc)) from None
