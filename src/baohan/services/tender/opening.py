"""Bid opening on the platform: each guarantee's ``baohanrestore`` written to the outbox for the moment its
bid section opens (or at once when an operator opens the section early), and the application moved to
restoring, with the project key kept, once the institution took the key.

The restore goes in its own outbox queue (aggregate): a restore waiting for the opening must not hold up
the application's other requests (a quit before the opening, say).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from baohan.adapters import outbox
from baohan.adapters.db.tables import Counterparty, TenderApplication, TenderBidSection
from baohan.domain.tender import Event, Stage
from baohan.protocols.tender.profile import TenderProfile
from baohan.protocols.tender.sealing import encode_key
from baohan.services.tender.roles import Context
from baohan.services.tender.sections import BidSections
from baohan.services.tender.sender import kind, message_payload

RESTORE = "baohanrestore"


def restore_queue(app: TenderApplication) -> str:
    """The outbox aggregate of ``app``'s restores."""
    return f"tender:{app.id}:restore"


def profile_of(session: Session, counterparty_id: str) -> TenderProfile:
    """The counterparty's tender profile, read in ``session`` (the registry would open a second session)."""
    row = session.get(Counterparty, counterparty_id)
    return TenderProfile.from_dict(row.profile if row is not None else None)


def schedule_restore(
    ctx: Context, sections: BidSections, session: Session, app: TenderApplication, section: TenderBidSection
) -> str:
    """Write ``app``'s baohanrestore for its section's opening time (at once when that has passed);
    retried by the outbox until the institution takes it. The message id."""
    if app.baohanno is None:
        raise ValueError(f"application {app.applyno} has no guarantee number to restore")
    profile = profile_of(session, app.counterparty_id)
    at = section.kaibiaotime
    fields = {
        "applyno": app.applyno,
        "baohanno": app.baohanno,
        "kaibiaotime": at,
        "key": encode_key(sections.project_key(section), profile.sm4_key_text),
    }
    dedupe = f"{kind(RESTORE)}:{app.id}:{at.isoformat()}"
    return outbox.enqueue(
        session,
        destination=app.counterparty_id,
        kind=kind(RESTORE),
        payload=message_payload(ctx.box, fields, dedupe),
        dedupe_key=dedupe,
        aggregate=restore_queue(app),
        not_before=at,
        now=ctx.clock(),
    )


def open_now(
    ctx: Context, sections: BidSections, session: Session, section: TenderBidSection, *, now: datetime
) -> list[TenderApplication]:
    """Open ``section`` at ``now`` (its bid opens early): every completed sealed guarantee's restore is
    written to go at once, replacing one scheduled for later (once the opening time has passed they are
    due already and stay as they are). The applications concerned."""
    if section.opened_at is not None:
        raise ValueError(f"bid section {section.code} was already opened at {section.opened_at.isoformat()}")
    early = now < section.kaibiaotime
    if early:
        section.kaibiaotime = now
    sections.mark_opened(section, now)
    if not early:
        return []
    apps = list(
        session.query(TenderApplication).filter(
            TenderApplication.side == "platform",
            TenderApplication.bid_section_id == section.id,
            TenderApplication.stage == Stage.SEALED_COMPLETED.value,
        )
    )
    for app in apps:
        session.execute(
            delete(outbox.OutboxMessage).where(
                outbox.OutboxMessage.aggregate == restore_queue(app),
                outbox.OutboxMessage.status == outbox.OutboxStatus.PENDING,
                outbox.OutboxMessage.attempts == 0,
                outbox.OutboxMessage.next_attempt_at > now,
            )
        )
        schedule_restore(ctx, sections, session, app, section)
    return apps


def restoring(
    ctx: Context, sections: BidSections, session: Session, app: TenderApplication, *, actor: str
) -> TenderApplication:
    """The institution took the project key: ``app`` is being restored, the key kept (sealed) with it.
    Nothing when it already moved on (the answer and the plain file's first slice may race: the row is
    locked so only one moves it)."""
    session.refresh(app, with_for_update=True)
    if app.stage != Stage.SEALED_COMPLETED.value or app.bid_section_id is None:
        return app
    section = sections.get(session, app.bid_section_id)
    now = ctx.clock()
    ctx.store.move(session, app, Event.RESTORE, now=now, actor=actor, kaibiaotime=section.kaibiaotime)
    ctx.store.record_project_key(
        session, app, sections.project_key(section), sections.fields(section), now=now
    )
    return app
