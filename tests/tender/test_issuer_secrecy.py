"""No plaintext project field at the issuer before baohanrestore: every database row (the files it keeps
opened and unzipped too), every log line, every outbox payload and every answer and page it gave is
searched for the plaintext, after an application went all the way to an issued sealed guarantee. After
restore the plaintext is there (the search does find it when present)."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import MetaData, select

from baohan.adapters.db.tables import StoredFile
from baohan.services.tender.bidder_desk import DeskState
from tests.tender.issuer_kit import PLAIN_PROJECT, World, past, world


def _texts(data: bytes) -> Iterator[str]:
    """``data`` as text, and every member of it when it is a zip (an OFD), recursively."""
    yield data.decode("utf-8", "replace")
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            for name in package.namelist():
                yield from _texts(package.read(name))


def _everything_stored(w: World) -> str:
    """Every value of every row of every table, and every stored file's content unpacked."""
    metadata = MetaData()
    metadata.reflect(w.issuer.engine)
    parts: list[str] = []
    with w.issuer.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    parts.extend(_texts(value) if isinstance(value, bytes) else [str(value)])
    with w.issuer.sessions() as session:
        for file_id in session.scalars(select(StoredFile.id)):
            parts.extend(_texts(w.issuer.context.files.get(session, file_id)))
    return "\n".join(parts)


def _found(text: str) -> list[str]:
    return [value for value in PLAIN_PROJECT.values() if value in text]


def test_nothing_reveals_a_project_field_before_restore(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with world(db_url) as w:
        answers: list[str] = []
        token, key = w.apply()
        desk = w.issuer.service.desk
        answers.append(repr(desk.view(token)))
        answers.append(repr(desk.accept_key(token, key.hex())))
        answers.append(desk.agreement(token).decode("utf-8"))
        pk = w.app_pk()
        w.agree(token, key)
        assert desk.view(token).state is DeskState.SIGNED
        service = w.issuer.service
        for app in (
            service.approve(pk, rate=Decimal("0.005"), actor="op"),
            service.record_payment(pk, amount=service.application(pk).cost, actor="op"),
            service.issue(pk, actor="op"),
        ):
            answers.append(repr({c.key: getattr(app, c.key) for c in app.__table__.columns}))
        w.deliver()
        assert service.application(pk).stage == "sealed_completed"
        sent = [repr(dict(r.fields)) for r in w.platform.platform.handled]

        for where, text in (
            ("the database", _everything_stored(w)),
            ("the log", caplog.text),
            ("the answers", "\n".join(answers)),
            ("the requests sent", "\n".join(sent)),
        ):
            assert _found(text) == [], f"{where} reveals a project field before restore"

        # The same search finds them once the bid opened and the key came.
        w.call("baohanrestore", w.restore_fields("A-1", past()))
        w.deliver()
        assert sorted(_found(_everything_stored(w))) == sorted(PLAIN_PROJECT.values())
