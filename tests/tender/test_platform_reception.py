"""Reception's property, on SQLite and PostgreSQL: slices in any order, any number of times, make the file
byte for byte; a file with a slice missing below the last received is refused naming it, and with only
its last slices missing it is refused all the same (the decryption cannot end well); nothing is kept."""

from __future__ import annotations

import itertools
from contextlib import nullcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.documents.ofd import Stamp, seal_ofd, write_ofd
from baohan.adapters.files import DatabaseFileStore
from baohan.adapters.uploads import Uploads
from baohan.gm import SM2PrivateKey
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.files import EncryptedFile, FileKey
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.sealing import seal_file_secret
from baohan.protocols.tender.wire import TenderError
from baohan.services.tender.files import GuaranteeFiles
from baohan.services.tender.reception import Completion, Reception
from baohan.services.tender.store import Applications
from tests.documents.ofd.conftest import KIT, guarantee_document
from tests.tender.store_fixtures import BOX, NOW, peers, sealed

__all__ = ["peers"]

SLICE = 2048
OWN = SM2PrivateKey.generate()
CHANNEL = TenderChannel("K1", "s", OWN, profile=TenderProfile(slice_size=SLICE))
OFD = seal_ofd(
    write_ofd(guarantee_document(KIT)), KIT.seal, KIT.user.key, KIT.user.cert, stamp=Stamp(0, 10, 10, 40, 40)
)
KEY = FileKey.fresh()
ENCRYPTED = EncryptedFile([OFD], KEY, slice_size=SLICE)
SLICES = list(ENCRYPTED)
COMPLETION = Completion(
    seal_file_secret(KEY.key, OWN.public_key), seal_file_secret(KEY.iv, OWN.public_key), ENCRYPTED.digest
)
COUNT = len(SLICES)
_numbers = itertools.count()


def _order(draw: st.DrawFn, held: list[int]) -> list[int]:
    order = draw(st.permutations(held))
    return order + draw(st.lists(st.sampled_from(held), max_size=4)) if held else order


@st.composite
def deliveries(draw: st.DrawFn, missing: bool) -> tuple[list[int], set[int]]:
    gone = draw(st.sets(st.integers(1, COUNT), min_size=1, max_size=COUNT - 1)) if missing else set()
    held = [n for n in range(1, COUNT + 1) if n not in gone]
    return _order(draw, held), gone


def test_the_document_has_several_slices() -> None:
    assert COUNT >= 4


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivery=deliveries(missing=False), missing=deliveries(missing=True))
def test_slices_in_any_order_make_the_file_and_a_gap_is_refused(
    sessions: sessionmaker[Session],
    peers: tuple[str, str],
    delivery: tuple[list[int], set[int]],
    missing: tuple[list[int], set[int]],
) -> None:
    store = DatabaseFileStore()
    reception = Reception(GuaranteeFiles(BOX), Uploads(store), store)
    applications = Applications("platform", BOX)
    for (order, gone), whole in ((delivery, True), (missing, False)):
        with pytest.raises(_Rollback) if not whole else nullcontext(), transaction(sessions) as session:
            app, _ = applications.add(
                session, peers[0], sealed(f"A-{next(_numbers)}"), now=NOW, actor="bidder"
            )
            for number in order:
                reception.add_slice(session, app, "sealed", number, SLICES[number - 1], now=NOW)
            if whole:
                row = reception.complete(session, app, "sealed", COMPLETION, CHANNEL, now=NOW)
                assert row.state == "completed" and store.get(session, row.file_id or "") == OFD
                continue
            with pytest.raises(TenderError) as refused:
                reception.complete(session, app, "sealed", COMPLETION, CHANNEL, now=NOW)
            below = sorted(n for n in gone if n < max(order))
            if below:
                assert f"index: slices {', '.join(map(str, below[:10]))}" in str(refused.value)
            raise _Rollback


class _Rollback(Exception):
    """Leave the transaction as a refused request does."""
