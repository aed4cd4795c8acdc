"""The issuer's guarantee documents: the sealed OFD before the bid opens, the plain one after, each kept in
the file store with the SM4 key and iv it travels under, and an upload job written to the outbox.

The sealed guarantee is made when an operator issues it; the plain one by its upload job, after
baohanrestore kept the project key (making it needs our identity from the registry, which is read
outside any transaction). The sealed guarantee prints the project fields as the ciphertext they arrived as and carries the
bidder's signed agreement; the plain one prints them opened and carries the sealed one unchanged. Both are
sealed with the institution's seal (:mod:`baohan.services.tender.seals`). A file's key and iv are fresh per
file, or (profile ``fixed_file_key``) the counterparty's fixed pair: the one its first file was given,
kept sealed at rest with every file.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters import outbox
from baohan.adapters.db.tables import TenderApplication, TenderGuaranteeFile
from baohan.adapters.documents.tender_guarantee import (
    InstitutionSeal,
    SignedAgreement,
    TenderGuarantee,
    plain_guarantee,
    sealed_guarantee,
)
from baohan.gm import SM2Certificate
from baohan.protocols.tender.agreement import signature_bytes
from baohan.protocols.tender.files import FileKey
from baohan.protocols.tender.profile import TenderProfile
from baohan.services.tender.files import FileType, GuaranteeFiles
from baohan.services.tender.roles import Context
from baohan.services.tender.seals import Seals

FILE_UPLOAD = "tender.file_upload"  # the outbox job that uploads one file's slices, then notifies completion
WIRE_FILETYPE: Mapping[FileType, str] = {"sealed": "1", "plain": "2"}
AGREEMENT_FILE = "agreement.txt"
# What each project field is called on the guarantee (its wire name in the application).
_PRINTED = {
    "biaoduanno": "bid_section_no",
    "biaoduanname": "bid_section_name",
    "zbr": "tenderer",
    "zbrorgnum": "tenderer_code",
}


class IssueError(ValueError):
    """A guarantee that cannot be made yet: the message says what is missing."""


def guarantee_facts(
    app: TenderApplication,
    project: Mapping[str, str],
    *,
    institution: str,
    valid_from: datetime,
    validity: timedelta,
    issued_at: datetime,
) -> TenderGuarantee:
    """What ``app``'s guarantee states, its project fields as given (ciphertext, or opened after restore)."""
    if app.baohanno is None or app.bidder_name is None or app.bidder_code is None or app.bzj_amount is None:
        raise IssueError(f"application {app.applyno} is not opened and approved")
    return TenderGuarantee(
        guarantee_no=app.baohanno,
        institution=institution,
        bidder_name=app.bidder_name,
        bidder_code=app.bidder_code,
        amount=app.bzj_amount,
        valid_from=valid_from,
        valid_to=valid_from + validity,
        issued_at=issued_at,
        **{_PRINTED[name]: value for name, value in project.items() if name in _PRINTED},
    )


class GuaranteeMaker:
    """Makes, keeps and queues the guarantee files of the issuer's applications."""

    def __init__(
        self, ctx: Context, seals: Seals, *, identity: str, institution: str, validity: timedelta
    ) -> None:
        self._ctx = ctx
        self._seals = seals
        self._identity = identity
        self._institution = institution
        self._validity = validity
        self.files = GuaranteeFiles(ctx.box)

    def seal(self, now: datetime) -> InstitutionSeal:
        """Our seal now; call it outside a transaction (it may read our identity through the registry)."""
        identity = self._ctx.registry.identity(self._identity)
        return self._seals.seal(identity, self._institution, now)

    def sealed(self, session: Session, app: TenderApplication, now: datetime, seal: InstitutionSeal) -> bytes:
        """The sealed guarantee of ``app``: project fields as ciphertext, the signed agreement attached."""
        agreement = self._ctx.store.agreement(session, app)
        if agreement is None:
            raise IssueError(f"application {app.applyno} has no signed agreement")
        signed = SignedAgreement(
            AGREEMENT_FILE,
            self._ctx.files.get(session, agreement.file_id),
            signature_bytes(agreement.signature),
            SM2Certificate.load(agreement.certificate_pem),
        )
        facts = guarantee_facts(
            app,
            app.sealed_fields or {},
            institution=self._institution,
            valid_from=now,
            validity=self._validity,
            issued_at=now,
        )
        return sealed_guarantee(facts, signed, seal)

    def plain(
        self,
        session: Session,
        app: TenderApplication,
        project: Mapping[str, str],
        now: datetime,
        seal: InstitutionSeal,
    ) -> bytes:
        """The plain guarantee of ``app`` with ``project`` opened, its sealed guarantee attached unchanged."""
        sealed_row = self.files.get(session, app, "sealed")
        if sealed_row is None or sealed_row.file_id is None:
            raise IssueError(f"application {app.applyno} has no sealed guarantee to restore")
        facts = guarantee_facts(
            app,
            project,
            institution=self._institution,
            valid_from=sealed_row.created_at,
            validity=self._validity,
            issued_at=now,
        )
        return plain_guarantee(facts, self._ctx.files.get(session, sealed_row.file_id), seal)

    def keep(
        self,
        session: Session,
        app: TenderApplication,
        filetype: FileType,
        content: bytes,
        profile: TenderProfile,
        now: datetime,
        *,
        actor: str,
        queue: bool = True,
    ) -> TenderGuaranteeFile:
        """Keep ``content`` as ``app``'s ``filetype`` file with its key and iv (sealed at rest), and (unless
        ``queue`` is false) write its upload job to the outbox in ``session``'s transaction."""
        row = self.files.start(session, app, filetype, now=now)
        if row.state != "pending":
            raise IssueError(f"the {filetype} guarantee of {app.applyno} is already {row.state}")
        key = self._file_key(session, app, profile)
        row.file_id = self._ctx.files.put(session, f"{app.baohanno}-{filetype}.ofd", content)
        self.files.seal_keys(row, key.key, key.iv)
        if queue:
            self.queue(session, app, filetype, actor=actor, now=now)
        return row

    @staticmethod
    def queue(
        session: Session, app: TenderApplication, filetype: FileType, *, actor: str, now: datetime
    ) -> None:
        """Write the job that uploads ``app``'s ``filetype`` file (making the plain one first if need be);
        once per file. ``actor`` is who issued it, for the history."""
        outbox.enqueue(
            session,
            destination=app.counterparty_id,
            kind=FILE_UPLOAD,
            payload={"application": app.id, "filetype": filetype, "actor": actor},
            dedupe_key=f"{FILE_UPLOAD}:{app.id}:{filetype}",
            aggregate=f"tender:{app.id}",
            now=now,
        )

    def _file_key(self, session: Session, app: TenderApplication, profile: TenderProfile) -> FileKey:
        if not profile.fixed_file_key:
            return FileKey.fresh()
        first = session.scalars(
            select(TenderGuaranteeFile)
            .join(TenderApplication, TenderApplication.id == TenderGuaranteeFile.application_pk)
            .where(
                TenderApplication.side == self._ctx.store.side,
                TenderApplication.counterparty_id == app.counterparty_id,
                TenderGuaranteeFile.key_sealed.is_not(None),
            )
            .order_by(TenderGuaranteeFile.created_at, TenderGuaranteeFile.id)
            .limit(1)
        ).first()
        keys = self.files.keys(first) if first is not None else None
        return FileKey(*keys) if keys is not None else FileKey.fresh()
