"""A claim's documents fetched over real HTTP on loopback, on SQLite and PostgreSQL: each by its own outbox
job, a failed fetch (HTTP 500) tried again after the backoff and then kept, a document over the cap given
up at once, and a redelivered job doing nothing twice."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderClaimDocument
from baohan.adapters.files import DatabaseFileStore
from baohan.adapters.outbox import Dispatcher, OutboxMessage, OutboxStatus, RetryPolicy
from baohan.services.delivery import Courier
from baohan.services.tender.claim_documents import (
    CLAIM_DOCUMENT,
    DocumentFetcher,
    document_name,
    download,
    enqueue_fetches,
)
from baohan.services.tender.requests import Requests
from baohan.services.tender.store import Applications
from tests.tender.store_fixtures import BOX, NOW, SEALED_LINE, peers, sealed, walk

__all__ = ["peers"]

LETTER = "索赔函".encode() * 100
PROOF = b"%PDF-1.7 proof of the bidder's default"


class Files(BaseHTTPRequestHandler):
    """Serves /letter.pdf (500 on its first request), /proof.pdf, /big.bin (over the cap) and 404."""

    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        count = Files.hits[self.path] = Files.hits.get(self.path, 0) + 1
        body, status = {
            "/letter.pdf": (LETTER, 500 if count == 1 else 200),
            "/proof.pdf": (PROOF, 200),
            "/big.bin": (b"x" * 5000, 200),
        }.get(self.path, (b"missing", 404))
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def files_url() -> Iterator[str]:
    Files.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def documents(sessions: sessionmaker[Session]) -> dict[int, TenderClaimDocument]:
    with sessions() as session:
        rows = list(session.scalars(select(TenderClaimDocument)))
        session.expunge_all()
        return {row.number: row for row in rows}


def message_of(sessions: sessionmaker[Session], document_id: str) -> OutboxMessage:
    with sessions() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == f"{CLAIM_DOCUMENT}:{document_id}")
        ).one()
        session.expunge(row)
        return row


def test_documents_are_fetched_by_retried_jobs(
    sessions: sessionmaker[Session], peers: tuple[str, str], files_url: str
) -> None:
    issuer = Applications("issuer", BOX)
    urls = [f"{files_url}/letter.pdf", f"{files_url}/proof.pdf", f"{files_url}/big.bin", f"{files_url}/gone"]
    with transaction(sessions) as session:
        app, _ = issuer.add(session, peers[0], sealed("C-1"), now=NOW, actor="K1")
        walk(issuer, session, app, SEALED_LINE)
        claim = Requests(issuer).open_claim(
            session,
            app,
            request={},
            amount=None,
            document_urls=urls,
            wait=timedelta(days=1),
            now=NOW,
            actor="K1",
        )
        session.flush()
        enqueue_fetches(session, claim, peers[0], deadline=timedelta(days=3), now=NOW)
    store = DatabaseFileStore()
    clock = [NOW]
    with httpx.Client(timeout=5) as http:
        fetcher = DocumentFetcher(sessions, store, http, lambda: clock[0], max_bytes=1000)
        dispatcher = Dispatcher(
            sessions,
            Courier({CLAIM_DOCUMENT: fetcher}),
            policy=RetryPolicy(base=timedelta(seconds=10), jitter=0),
            clock=lambda: clock[0],
            rng=random.Random(1),
        )
        assert dispatcher.run_once() == 4
        docs = documents(sessions)
        assert (docs[1].state, docs[1].attempts, docs[1].last_error) == ("failed", 1, "HTTP 500")
        assert (docs[2].state, docs[2].attempts) == ("fetched", 1)
        assert docs[3].state == "failed" and "1000 bytes allowed" in (docs[3].last_error or "")
        assert (docs[4].state, docs[4].last_error) == ("failed", "HTTP 404")
        assert message_of(sessions, docs[1].id).status is OutboxStatus.PENDING
        assert message_of(sessions, docs[3].id).status is OutboxStatus.DEAD  # more bytes will not shrink
        assert dispatcher.run_once() == 0  # the backoff holds the retries
        clock[0] = NOW + timedelta(seconds=11)
        assert dispatcher.run_once() == 2
        docs = documents(sessions)
        assert (docs[1].state, docs[1].attempts, docs[1].last_error) == ("fetched", 2, None)
        assert (docs[4].state, docs[4].attempts) == ("failed", 2)
        assert Files.hits["/letter.pdf"] == 2
        with sessions() as session:
            assert store.get(session, docs[1].file_id or "") == LETTER
            assert store.get(session, docs[2].file_id or "") == PROOF
            assert store.info(session, docs[1].file_id or "").name == "letter.pdf"
        fetcher(message_of(sessions, docs[1].id))  # redelivered: nothing fetched again
        assert Files.hits["/letter.pdf"] == 2


def test_only_http_urls_are_fetched_and_names_are_plain() -> None:
    with httpx.Client() as http, pytest.raises(Exception, match="not an http"):
        download(http, "file:///etc/passwd", 10)
    assert document_name("https://p.example/a/b/%E7%B4%A2.pdf", 3) == "claim-document-3"
    assert document_name("https://p.example/files/letter-1.pdf?x=1", 1) == "letter-1.pdf"
    assert document_name("https://p.example/", 2) == "claim-document-2"
