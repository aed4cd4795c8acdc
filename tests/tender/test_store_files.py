"""Guarantee file records on SQLite and PostgreSQL: from pending to completed, the SM4 key and iv sealed at
rest, a failed file refused and begun again, nothing changed once final."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderGuaranteeFile
from baohan.adapters.files import DatabaseFileStore
from baohan.adapters.keystore import KeyStoreError
from baohan.gm import sm3_hex
from baohan.services.tender.files import FILETYPES, GuaranteeFiles, file_key_context
from baohan.services.tender.store import Applications
from tests.tender.store_fixtures import BOX, NOW, peers, sealed

__all__ = ["peers"]

KEY, IV = bytes(range(16)), bytes(range(16, 32))
OFD = b"PK\x03\x04 a sealed guarantee"
MD5 = "0123456789abcdef0123456789abcdef"


def test_a_file_goes_from_pending_to_completed(
    sessions: sessionmaker[Session], peers: tuple[str, str]
) -> None:
    files, store = GuaranteeFiles(BOX), DatabaseFileStore()
    with transaction(sessions) as session:
        app, _ = Applications("platform", BOX).add(session, peers[0], sealed(), now=NOW, actor="bidder")
        row = files.start(session, app, FILETYPES["1"], now=NOW)
        assert files.start(session, app, "sealed", now=NOW).id == row.id
        assert files.get(session, app, "plain") is None
        with pytest.raises(ValueError, match="cannot complete without its file, digest, key"):
            files.complete(row, now=NOW)
        file_id = store.put(session, "sealed.ofd", OFD)
        for method, digest, why in (
            ("sha1", MD5, "digest method must be md5 or sm3"),
            ("md5", MD5.upper(), "baohanfilemd5: md5 digest must be 32 lowercase hex"),
            ("sm3", MD5, "baohanfilemd5: sm3 digest must be 64"),
        ):
            with pytest.raises(ValueError, match=why):
                files.stored(row, file_id=file_id, digest=digest, method=method, slices=1)
        files.stored(row, file_id=file_id, digest=sm3_hex(OFD), method="sm3", slices=1)
        with pytest.raises(ValueError, match="iv: must be 16 bytes, got 3"):
            files.seal_keys(row, KEY, b"abc")
        assert files.keys(row) is None
        files.seal_keys(row, KEY, IV)
        files.complete(row, now=NOW)
        with pytest.raises(ValueError, match="the sealed file is already completed"):
            files.refuse(row)
        row_id = row.id
    with sessions() as session:
        kept = session.get(TenderGuaranteeFile, row_id)
        assert kept is not None
        row = kept
        assert (row.state, row.completed_at, row.digest_method) == (
            "completed",
            NOW,
            "sm3",
        )
        assert KEY.hex() not in (row.key_sealed or "") and IV.hex() not in (row.iv_sealed or "")
        assert files.keys(row) == (KEY, IV)
        with pytest.raises(KeyStoreError):  # the key is bound to its row and part: no swapping key and iv
            BOX.open(row.key_sealed or "", context=file_key_context(row.id, "iv"))


def test_a_refused_file_begins_again(sessions: sessionmaker[Session], peers: tuple[str, str]) -> None:
    files = GuaranteeFiles(BOX)
    with transaction(sessions) as session:
        app, _ = Applications("platform", BOX).add(session, peers[0], sealed(), now=NOW, actor="bidder")
        row = files.start(session, app, "plain", now=NOW)
        with pytest.raises(ValueError, match="filetype: must be sealed or plain"):
            files.start(session, app, "1", now=NOW)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="is pending, not refused"):
            files.restart(row)
        files.refuse(row)
        with pytest.raises(ValueError, match="already refused"):
            files.uploading(row, "upload-1")
        files.restart(row)
        assert (row.state, row.file_id, row.digest) == ("pending", None, None)
