"""The issuer's upload of a guarantee file: every slice (uploadbaohanfile), then baohanfilecompletenotice.
The plain guarantee is made by its job first, once baohanrestore kept the project key.

One outbox job per file (:data:`~baohan.services.tender.issuing.FILE_UPLOAD`) encrypts the kept OFD with
its key and iv (SM4-CBC; the OFD is read whole, being small, so no transaction stays open while the
slices go out) and posts each slice; a retry posts them all again, byte for byte the
same, and the platform answers the ones it has as before. Once every slice is up the job, in one
transaction, marks the file uploaded and writes the completion notice to the outbox with the key and iv
SM2-sealed for the platform's public key: SM2 sealing is randomised, so the notice is sealed once and
every retry of it sends the same text. With the profile's ``upload_before_notice`` the approval's
baohannotice is written there too, after the slices and before the completion.

The platform's key is asked with downloadpublickey (before the slices) and cached (per process,
``ttl``); a key that changed replaces the one registered for the platform (the registry's ``rotate``).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from baohan.adapters.db.engine import transaction
from baohan.adapters.documents.ofd import OfdError
from baohan.adapters.outbox import OutboxMessage, PermanentFailure
from baohan.domain.tender import Event, TenderRefused
from baohan.gm import GMError, SM2PublicKey
from baohan.protocols.tender.files import EncryptedFile, FileKey
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.sealing import seal_file_secret
from baohan.services.tender.files import FILETYPES, FileType, GuaranteeFiles
from baohan.services.tender.issuing import WIRE_FILETYPE, GuaranteeMaker, IssueError
from baohan.services.tender.registry import Peer, Registry
from baohan.services.tender.roles import Context
from baohan.services.tender.seals import SealUnavailable
from baohan.services.tender.sender import Delivery, TenderSender

log = logging.getLogger(__name__)
COMPLETION = "baohanfilecompletenotice"
NoticeFields = Callable[[Any], dict[str, Any]]


class PlatformKeys:
    """The platforms' SM2 public keys: asked with downloadpublickey at most once per ``ttl``."""

    def __init__(
        self, registry: Registry, sender: TenderSender, *, ttl: timedelta, clock: Callable[[], datetime]
    ) -> None:
        self._registry = registry
        self._sender = sender
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._asked: dict[str, datetime] = {}

    def key(self, peer: Peer, applyno: str) -> SM2PublicKey:
        """``peer``'s public key, asked for (about ``applyno``) unless asked within ``ttl``."""
        now = self._clock()
        with self._lock:
            asked = self._asked.get(peer.id)
        if asked is not None and now - asked < self._ttl and peer.channel.peer_key is not None:
            return peer.channel.peer_key
        data = self._sender.deliver(peer, "downloadpublickey", {"applyno": applyno})
        try:
            key = SM2PublicKey.load(str(data.get("publickey", "")))
        except (GMError, ValueError) as exc:
            raise PermanentFailure(f"downloadpublickey: publickey is not an SM2 public key ({exc})") from None
        known = peer.channel.peer_key
        if known is None or known.to_bytes() != key.to_bytes():
            self._registry.rotate(peer.id, public_key=key)
            log.info("tender platform %s has a new public key; registered", peer.name)
        with self._lock:
            self._asked[peer.id] = now
        return key


class FileUpload:
    """The outbox job that uploads one guarantee file and writes its completion notice."""

    def __init__(
        self,
        ctx: Context,
        sender: TenderSender,
        keys: PlatformKeys,
        maker: GuaranteeMaker,
        approval_fields: NoticeFields,
    ) -> None:
        self._ctx = ctx
        self._maker = maker
        self._sender = sender
        self._keys = keys
        self._approval_fields = approval_fields
        self._files = GuaranteeFiles(ctx.box)

    def __call__(self, message: OutboxMessage) -> None:
        filetype: FileType = message.payload["filetype"]
        app_pk: str = message.payload["application"]
        actor = str(message.payload.get("actor", "issuer"))
        ctx = self._ctx
        peer = self._peer(message.destination)  # the registry is read outside any transaction
        profile = peer.channel.profile
        if filetype == "plain":
            self._make_plain(app_pk, profile)
        # Guarantee files are small (an OFD of tens of kilobytes): read whole, so no transaction stays open
        # while the slices go out (SQLite's would hold the writer lock).
        with ctx.sessions() as session:
            app = ctx.store.get(session, app_pk)
            row = self._files.get(session, app, filetype)
            if row is None or row.file_id is None or row.state == "refused":
                raise PermanentFailure(f"application {app.applyno} has no {filetype} file to upload")
            if row.state != "pending":
                return  # uploaded by an earlier attempt: its completion is in the outbox
            keys = self._files.keys(row)
            assert keys is not None  # kept together with the file
            content = ctx.files.get(session, row.file_id)
            applyno, baohanno = app.applyno, app.baohanno
        # Asked before the slices go up: a platform that cannot give its key does not get them in vain.
        platform_key = self._keys.key(peer, applyno)
        encrypted = EncryptedFile(
            [content], FileKey(*keys), slice_size=profile.slice_size, digest=profile.file_digest
        )
        for index, piece in enumerate(encrypted, start=1):
            self._sender.deliver(
                peer,
                "uploadbaohanfile",
                {
                    "applyno": applyno,
                    "baohanno": baohanno,
                    "baohanfile": base64.b64encode(piece).decode("ascii"),
                    "filetype": WIRE_FILETYPE[filetype],
                    "index": str(index),
                },
            )

        def seal(secret: bytes) -> str:
            return seal_file_secret(
                secret,
                platform_key,
                layout=profile.sm2_layout,
                prefix=profile.sm2_prefix,
                encoding=profile.encoding,
            )

        with transaction(ctx.sessions) as session:
            app = ctx.store.get(session, app_pk)
            row = self._files.get(session, app, filetype)
            if row is None or row.state != "pending" or row.file_id is None:
                return  # a twin attempt finished first
            now = ctx.clock()
            self._files.stored(
                row,
                file_id=row.file_id,
                digest=encrypted.digest,
                method=profile.file_digest,
                slices=encrypted.slices,
            )
            if filetype == "sealed":
                detail = {"slices": encrypted.slices, "digest": encrypted.digest}
                try:
                    ctx.store.move(session, app, Event.UPLOAD_SEALED, now=now, actor=actor, detail=detail)
                except TenderRefused as exc:  # quit or given up meanwhile: the file is not announced
                    raise PermanentFailure(str(exc)) from None
                if profile.upload_before_notice:
                    ctx.notify(session, app, "baohannotice", self._approval_fields(app))
            ctx.notify(
                session,
                app,
                COMPLETION,
                {
                    "applyno": applyno,
                    "baohanno": baohanno,
                    "key": seal(keys[0]),
                    "iv": seal(keys[1]),
                    "baohanfilemd5": encrypted.digest,
                    "filetype": WIRE_FILETYPE[filetype],
                },
                dedupe_key=f"tender.{COMPLETION}:{app.id}:{filetype}",
            )

    def _make_plain(self, app_pk: str, profile: TenderProfile) -> None:
        """Make and keep the plain guarantee of a restored application, unless an earlier attempt did."""
        ctx = self._ctx
        with ctx.sessions() as session:
            app = ctx.store.get(session, app_pk)
            if self._files.get(session, app, "plain") is not None:
                return
        now = ctx.clock()
        try:
            seal = self._maker.seal(now)
            with transaction(ctx.sessions) as session:
                app = ctx.store.get(session, app_pk)
                if app.project_fields is None:
                    raise PermanentFailure(f"application {app.applyno} is not restored: no plain guarantee")
                if self._files.get(session, app, "plain") is not None:
                    return  # a twin attempt made it
                content = self._maker.plain(session, app, app.project_fields, now, seal)
                self._maker.keep(session, app, "plain", content, profile, now, actor="issuer", queue=False)
        except (IssueError, SealUnavailable, OfdError, KeyError) as exc:
            raise PermanentFailure(f"the plain guarantee cannot be made: {exc}") from None

    def completed(self, delivery: Delivery) -> None:
        """The platform's answer to a completion notice: the file is final, or refused (issue it again)."""
        filetype = FILETYPES.get(str(delivery.fields.get("filetype")))
        if filetype is None:
            return
        ctx = self._ctx
        with transaction(ctx.sessions) as session:
            app = ctx.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            row = self._files.get(session, app, filetype) if app is not None else None
            if app is None or row is None or row.state != "uploaded":
                return  # already settled by an earlier answer
            now = ctx.clock()
            if not delivery.ok:
                log.warning(
                    "tender %s file of %s refused by the platform: %s", filetype, app.applyno, delivery.reason
                )
                self._files.refuse(row)
                return
            self._files.complete(row, now=now)
            event = Event.COMPLETE_SEALED if filetype == "sealed" else Event.COMPLETE_PLAIN
            ctx.store.move(session, app, event, now=now, actor="platform")

    def _peer(self, counterparty_id: str) -> Peer:
        try:
            return self._ctx.registry.peer(counterparty_id)
        except KeyError as exc:
            raise PermanentFailure(str(exc)) from None
