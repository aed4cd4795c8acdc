"""A claim's documents (claimsnotice ``filelist``), each fetched over HTTP by its own outbox job and kept in
the file store with the claim.

The claim is answered before any fetch: each document is a "tender.claim_document" job, retried with the
outbox's backoff when the fetch fails (a transport error, a status other than 200), and given up at once
when it can never succeed (larger than the cap). Every attempt is written on the document's row.
Redirects are not followed: a document is where the platform said it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

import httpx
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters import outbox
from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderClaim, TenderClaimDocument
from baohan.adapters.files import FileStore
from baohan.adapters.outbox import OutboxMessage, PermanentFailure
from baohan.services.tender.requests import Requests

CLAIM_DOCUMENT = "tender.claim_document"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_DEADLINE = timedelta(days=3)  # how long a document is tried before its job is dead
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", re.ASCII)


class FetchFailed(Exception):
    """A fetch that may succeed later (the outbox tries it again)."""


class TooLarge(PermanentFailure):
    """A document over the size cap: fetching it again cannot help."""


def enqueue_fetches(
    session: Session, claim: TenderClaim, destination: str, *, deadline: timedelta, now: datetime
) -> None:
    """One fetch job per document of ``claim``, in the caller's transaction (no aggregate: a document that
    cannot be fetched holds up nothing else)."""
    documents = session.query(TenderClaimDocument).filter(TenderClaimDocument.claim_id == claim.id)
    for document in documents.order_by(TenderClaimDocument.number):
        outbox.enqueue(
            session,
            destination=destination,
            kind=CLAIM_DOCUMENT,
            payload={"document_id": document.id},
            dedupe_key=f"{CLAIM_DOCUMENT}:{document.id}",
            deadline=deadline,
            now=now,
        )


def download(http: httpx.Client, url: str, max_bytes: int) -> bytes:
    """The body of GET ``url``; FetchFailed when it did not come, TooLarge beyond ``max_bytes``."""
    if not url.startswith(("http://", "https://")):
        raise PermanentFailure(f"{url[:80]!r} is not an http(s) URL")
    try:
        with http.stream("GET", url, follow_redirects=False) as reply:
            if reply.status_code != 200:
                raise FetchFailed(f"HTTP {reply.status_code}")
            declared = reply.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise TooLarge(f"{declared} bytes, more than the {max_bytes} bytes allowed")
            body = bytearray()
            for chunk in reply.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge(f"more than the {max_bytes} bytes allowed")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{type(exc).__name__}: {exc}") from None


def document_name(url: str, number: int) -> str:
    """The stored name of document ``number``: the URL's last path segment when it is a plain file name."""
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return last if _SAFE_NAME.fullmatch(last) else f"claim-document-{number}"


@dataclass
class DocumentFetcher:
    """The outbox handler of "tender.claim_document"."""

    sessions: sessionmaker[Session]
    files: FileStore
    http: httpx.Client
    clock: Callable[[], datetime]
    max_bytes: int = DEFAULT_MAX_BYTES

    def __call__(self, message: OutboxMessage) -> None:
        """Fetch the document the message names and keep it; raise to have the outbox try again."""
        document_id = str(message.payload.get("document_id", ""))
        with self.sessions() as session:
            document = session.get(TenderClaimDocument, document_id)
            if document is None:
                raise PermanentFailure(f"no claim document {document_id!r}")
            if document.state == "fetched":
                return  # a redelivered job
            url, number = document.url, document.number
        try:
            content = download(self.http, url, self.max_bytes)
        except (FetchFailed, PermanentFailure) as exc:
            with transaction(self.sessions) as session:
                row = session.get(TenderClaimDocument, document_id, with_for_update=True)
                if row is not None and row.state != "fetched":
                    Requests.fetch_failed(row, str(exc))
            raise
        with transaction(self.sessions) as session:
            row = session.get(TenderClaimDocument, document_id, with_for_update=True)
            if row is None or row.state == "fetched":
                return
            file_id = self.files.put(session, document_name(url, number), content)
            Requests.fetched(row, file_id, now=self.clock())
