"""Tables of the exchange: our keys, counterparties, applications and their history, claims, files, replays."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from baohan.adapters.db.engine import Base, ExactNumeric, JSONText, UTCDateTime, utcnow

Money = ExactNumeric(18, 2)


class OwnKey(Base):
    """One of our SM2 identities: the private key sealed at rest, its certificate and issuing CA."""

    __tablename__ = "own_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_key_sealed: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(String(130))
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    ca_certificate_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RetiredKey(Base):
    """An identity replaced by another of its name: kept (sealed) so letters it signed still verify."""

    __tablename__ = "retired_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    private_key_sealed: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(String(130))
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    ca_certificate_pem: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Counterparty(Base):
    """A platform (for an issuer) or an institution (for a platform) we exchange messages with."""

    __tablename__ = "counterparties"
    # One appid per role of each protocol: our issuer's platform and our platform's institution may share
    # one (as two sides of one connection do), each in its own role.
    __table_args__ = (UniqueConstraint("protocol", "role", "appid"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    protocol: Mapped[str] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(20))  # the counterparty's role: platform | institution
    name: Mapped[str] = mapped_column(String(200))
    appid: Mapped[str] = mapped_column(String(64))
    appkey: Mapped[str] = mapped_column(String(64))
    appsecret_sealed: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(String(130))
    own_key_name: Mapped[str] = mapped_column(ForeignKey("own_keys.name"))
    endpoint_url: Mapped[str | None] = mapped_column(String(500))
    per_transcode_paths: Mapped[bool] = mapped_column(Boolean, default=False)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredFile(Base):
    """A stored file's record (guarantee letters, tender files); its bytes are chunks or a directory's file.

    ``content`` holds the whole file only for rows written before chunks existed (revision 0008);
    ``md5`` is unknown (NULL) for those rows.
    """

    __tablename__ = "stored_files"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    sm3: Mapped[str] = mapped_column(String(64))
    md5: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StoredFileChunk(Base):
    """One chunk (numbered from 1) of a file kept by the database store."""

    __tablename__ = "stored_file_chunks"

    file_id: Mapped[str] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FileUpload(Base):
    """A file arriving in slices; ``file_id`` is set once the slices were committed into a stored file."""

    __tablename__ = "file_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    file_id: Mapped[str | None] = mapped_column(ForeignKey("stored_files.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FileUploadSlice(Base):
    """Slice ``number`` (from 1) of an upload; a repeat is compared with it byte for byte (0006)."""

    __tablename__ = "file_upload_slices"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("file_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Application(Base):
    """A guarantee application and, once issued, its guarantee; ``side`` says whose copy this is."""

    __tablename__ = "applications"
    __table_args__ = (
        UniqueConstraint("side", "counterparty_id", "application_id"),
        UniqueConstraint("side", "guarantee_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    side: Mapped[str] = mapped_column(String(10))  # issuer | platform
    counterparty_id: Mapped[str] = mapped_column(ForeignKey("counterparties.id"))
    application_id: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(20), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    request: Mapped[dict[str, Any]] = mapped_column(JSONText)
    supplier_code: Mapped[str] = mapped_column(String(64))
    supplier_name: Mapped[str] = mapped_column(String(256))
    purchaser_code: Mapped[str] = mapped_column(String(64))
    purchaser_name: Mapped[str] = mapped_column(String(256))
    project_code: Mapped[str] = mapped_column(String(128), index=True)
    project_name: Mapped[str] = mapped_column(String(256))
    bid_code: Mapped[str] = mapped_column(String(256))
    bid_name: Mapped[str] = mapped_column(String(256))
    amount: Mapped[Decimal] = mapped_column(Money)
    term_months: Mapped[int] = mapped_column(Integer)
    product: Mapped[str | None] = mapped_column(String(32))
    premium: Mapped[Decimal | None] = mapped_column(Money)
    rate: Mapped[Decimal | None] = mapped_column(ExactNumeric(10, 6))
    decision_reasons: Mapped[list[str]] = mapped_column(JSONText, default=list)
    extends_id: Mapped[str | None] = mapped_column(ForeignKey("applications.id"))
    guarantee_id: Mapped[str | None] = mapped_column(String(64))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pay_type: Mapped[str | None] = mapped_column(String(2))
    fail_reason: Mapped[str | None] = mapped_column(String(255))
    file_id: Mapped[str | None] = mapped_column(ForeignKey("stored_files.id"))
    file_name: Mapped[str | None] = mapped_column(String(255))
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Optimistic locking: two operators (or an operator and a notice) deciding at once cannot both win.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ApplicationEvent(Base):
    """The audit trail: every stage change with who caused it and why."""

    __tablename__ = "application_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Claim(Base):
    """A claim (索赔) on a guarantee and its outcome."""

    __tablename__ = "claims"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))  # open | paid | refused
    request: Mapped[dict[str, Any]] = mapped_column(JSONText)
    claim_amount: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RefundRequest(Base):
    """An ELY109 cancellation (撤单) or surrender (退保) waiting for, or given, an operator's decision."""

    __tablename__ = "refund_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # cancel | surrender
    reason: Mapped[str | None] = mapped_column(Text)  # refundReason, as the platform sent it
    status: Mapped[str] = mapped_column(String(10))  # pending | accepted | refused
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_reason: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # At most one waiting per application, even when two requests race past the lookup.
    __table_args__ = (
        Index(
            "uq_refund_requests_pending",
            "application_pk",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )


class IdempotencyRecord(Base):
    """The answer given to one request, so a repeat gets the same answer and no second effect.

    Keyed by (protocol, counterparty, interface, key): procurement keys by msgcode across its transcodes
    (interface ""), tender by applyno per interface. ``data`` may hold ``{"$file": id}`` references instead
    of large values (a Base64 letter), resolved from the file store on replay. Records are purged after
    ``expires_at``.
    """

    __tablename__ = "idempotency_records"

    protocol: Mapped[str] = mapped_column(String(20), primary_key=True)
    counterparty: Mapped[str] = mapped_column(String(64), primary_key=True)
    interface: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Switch(Base):
    """Operator switches, e.g. ``paused`` (answered with 301 while on)."""

    __tablename__ = "switches"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class AdminOperator(Base):
    """A person allowed into the admin API: a name for the audit trail and the SM3 digest of their token."""

    __tablename__ = "admin_operators"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- tender (spec 004) ------------------------------------------------------------------------------------
# Both roles may share one database (tests, the demo): every application row says whose copy it is
# (``side``: issuer | platform). Project fields stay in their sealed (ciphertext) form until the project key
# arrives (issuer) or the bid opens (platform); the key and every file key are sealed by the key store.

Rate = ExactNumeric(10, 6)


class TenderBidSection(Base):
    """The platform's bid section (标段): its project key (sealed at rest), opening time and sealed values."""

    __tablename__ = "tender_bid_sections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(500), unique=True)  # biaoduanno, the platform's own number
    project_key_sealed: Mapped[str] = mapped_column(Text)
    # The plain fields sealed by the key store, and their wire form under the project key (what goes out).
    fields_sealed: Mapped[str] = mapped_column(Text)
    sealed_values: Mapped[dict[str, Any]] = mapped_column(JSONText)
    kaibiaotime: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the restores were scheduled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenderQuote(Base):
    """One institution's offer (product, rate, premium) to a bidder for a bid section, to choose from."""

    __tablename__ = "tender_quotes"
    __table_args__ = (UniqueConstraint("bid_section_id", "bidder_code", "counterparty_id", "product"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bid_section_id: Mapped[str] = mapped_column(ForeignKey("tender_bid_sections.id"), index=True)
    bidder_code: Mapped[str] = mapped_column(String(50))
    counterparty_id: Mapped[str] = mapped_column(ForeignKey("counterparties.id"))
    product: Mapped[str] = mapped_column(String(100))
    rate: Mapped[Decimal] = mapped_column(Rate)
    premium: Mapped[Decimal] = mapped_column(Money)
    chosen: Mapped[bool] = mapped_column(Boolean, default=False)
    application_pk: Mapped[str | None] = mapped_column(ForeignKey("tender_applications.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenderApplication(Base):
    """A tender application (baohanapply) and its guarantee; ``side`` says whose copy this is."""

    __tablename__ = "tender_applications"
    __table_args__ = (
        UniqueConstraint("side", "counterparty_id", "applyno"),
        UniqueConstraint("side", "counterparty_id", "baohanno"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    side: Mapped[str] = mapped_column(String(10))  # issuer | platform
    counterparty_id: Mapped[str] = mapped_column(ForeignKey("counterparties.id"))
    applyno: Mapped[str] = mapped_column(String(50))
    platformcode: Mapped[str] = mapped_column(String(50))
    bid_section_id: Mapped[str | None] = mapped_column(ForeignKey("tender_bid_sections.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20), index=True)
    resume_stage: Mapped[str | None] = mapped_column(String(20))  # where a refused quit or stopped claim goes
    content_hash: Mapped[str] = mapped_column(String(64))
    applydata: Mapped[str] = mapped_column(Text)  # as received (or sent): SM4 under the envelope's key
    digitalenvelope: Mapped[str] = mapped_column(Text)
    bidder_certificate_pem: Mapped[str | None] = mapped_column(Text)
    # Opened by the bidder: the fields that were never sealed with the project key.
    bidder_name: Mapped[str | None] = mapped_column(String(200))
    bidder_code: Mapped[str | None] = mapped_column(String(50), index=True)
    bzj_amount: Mapped[Decimal | None] = mapped_column(Money)
    sealed_fields: Mapped[dict[str, Any] | None] = mapped_column(JSONText)  # ciphertext under the project key
    project_key_sealed: Mapped[str | None] = mapped_column(Text)  # once restored
    project_fields: Mapped[dict[str, Any] | None] = mapped_column(JSONText)  # plain, only once restored
    baohanno: Mapped[str | None] = mapped_column(String(50))
    inst_name: Mapped[str | None] = mapped_column(String(200))
    rate: Mapped[Decimal | None] = mapped_column(Rate)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payer_name: Mapped[str | None] = mapped_column(String(200))
    payer_account: Mapped[str | None] = mapped_column(String(50))
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kaibiaotime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # tuibaotime
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TenderEvent(Base):
    """A tender application's history for operators: every event, who caused it, and its details."""

    __tablename__ = "tender_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenderGuaranteeFile(Base):
    """A guarantee file of an application, sealed (filetype 1) or plain (2): sent by the issuer, received
    by the platform. Its SM4 key and iv are sealed at rest."""

    __tablename__ = "tender_guarantee_files"
    __table_args__ = (UniqueConstraint("application_pk", "filetype"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"))
    filetype: Mapped[str] = mapped_column(String(10))  # sealed | plain
    state: Mapped[str] = mapped_column(String(20))  # pending | uploading | uploaded | completed | refused
    file_id: Mapped[str | None] = mapped_column(ForeignKey("stored_files.id"))  # the plain OFD
    upload_id: Mapped[str | None] = mapped_column(ForeignKey("file_uploads.id"))  # slices received
    digest: Mapped[str | None] = mapped_column(String(64))
    digest_method: Mapped[str | None] = mapped_column(String(8))  # md5 | sm3
    key_sealed: Mapped[str | None] = mapped_column(Text)
    iv_sealed: Mapped[str | None] = mapped_column(Text)
    slices: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TenderAgreement(Base):
    """The application agreement (保函申请协议) the bidder signed with their certificate."""

    __tablename__ = "tender_agreements"

    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"), primary_key=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    file_id: Mapped[str] = mapped_column(ForeignKey("stored_files.id"))  # the agreement's bytes
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TenderClaim(Base):
    """A claim (claimsnotice): paid on first demand once due, unless an operator stops it with a reason."""

    __tablename__ = "tender_claims"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))  # open | paid | stopped
    request: Mapped[dict[str, Any]] = mapped_column(JSONText)
    amount: Mapped[Decimal | None] = mapped_column(Money)  # payeramount
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TenderClaimDocument(Base):
    """One document of a claim's ``filelist``: where it is, and whether we have fetched and kept it."""

    __tablename__ = "tender_claim_documents"
    __table_args__ = (UniqueConstraint("claim_id", "number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("tender_claims.id"))
    number: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(10))  # pending | fetched | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(255))
    file_id: Mapped[str | None] = mapped_column(ForeignKey("stored_files.id"))
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TenderInvoice(Base):
    """An invoice request (invoiceapply) and the invoice issued for it (invoicenotice)."""

    __tablename__ = "tender_invoices"
    __table_args__ = (
        Index("uq_tender_invoices_serial", "serial", unique=True),
        Index("uq_tender_invoices_token", "token", unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))  # requested | issued | refused
    request: Mapped[dict[str, Any]] = mapped_column(JSONText)
    amount: Mapped[Decimal] = mapped_column(Money)
    invoice_url: Mapped[str | None] = mapped_column(String(1000))
    invoice_code: Mapped[str | None] = mapped_column(String(50))
    invoice_no: Mapped[str | None] = mapped_column(String(50))
    file_id: Mapped[str | None] = mapped_column(ForeignKey("stored_files.id"))
    serial: Mapped[int | None] = mapped_column(Integer)  # from TenderCounter "invoice": the invoice number
    token: Mapped[str | None] = mapped_column(String(64))  # names the PDF in its URL; unguessable
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TenderCounter(Base):
    """A named counter (the invoice serial): taken one at a time by an atomic increment."""

    __tablename__ = "tender_counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class TenderQuit(Base):
    """A quit (退保, quitapply) waiting for, or given, a decision; ``quit_at`` is tuibaotime on success."""

    __tablename__ = "tender_quits"
    __table_args__ = (
        Index(
            "uq_tender_quits_pending",
            "application_pk",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))  # pending | accepted | refused
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decision_reason: Mapped[str | None] = mapped_column(String(500))
    quit_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TenderGiveUp(Base):
    """A give-up asked by the platform (giveupapply) or by the bidder on our side (giveupnotice), and the
    answer the deciding side gave."""

    __tablename__ = "tender_give_ups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_pk: Mapped[str] = mapped_column(ForeignKey("tender_applications.id"), index=True)
    origin: Mapped[str] = mapped_column(String(10))  # platform | issuer: who asked
    status: Mapped[str] = mapped_column(String(10))  # pending | accepted | refused
    message: Mapped[str | None] = mapped_column(String(500))  # the refusal's reason
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
