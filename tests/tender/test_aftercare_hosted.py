"""Aftercare hosted by build_issuer (SQLite and PostgreSQL, real HTTP on loopback): its interfaces are
served and its jobs and hooks registered beside the issuer's, and a guarantee issued the whole way is
quit through them (quitapply, the operator's decision, quitnotice to the recording platform of
tests/tender/wire_peer.py)."""

from __future__ import annotations

from baohan.services.tender.aftercare import AFTERCARE_HANDLERS, CLAIM_DUE, Aftercare
from baohan.services.tender.claim_documents import CLAIM_DOCUMENT
from tests.tender.issuer_kit import world


def test_build_issuer_hosts_aftercare_and_a_quit_goes_through(db_url: str) -> None:
    with world(db_url) as w:
        assert set(AFTERCARE_HANDLERS) <= w.issuer.service.served
        assert {CLAIM_DOCUMENT, CLAIM_DUE, "tender.quitnotice"} <= set(w.issuer.hosted.handlers)
        pk = w.issued("A-1")
        baohanno = w.issuer.service.application(pk).baohanno
        assert baohanno is not None
        w.call("quitapply", {"applyno": "A-1", "baohanno": baohanno, "reason": "项目终止"})
        Aftercare(w.issuer.context).decide_quit(pk, accept=True, actor="op")
        w.deliver()
        [notice] = w.received("quitnotice")
        assert (notice.model.applyno, notice.model.baohanno, notice.model.applystatus) == (
            "A-1",
            baohanno,
            "1",
        )
        assert notice.model.tuibaotime is not None
        assert w.issuer.service.application(pk).stage == "quit"
