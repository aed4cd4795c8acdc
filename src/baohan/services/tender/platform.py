"""The tender platform (交易平台): bid sections with their project keys, the bidder's submission to the
institution whose offer they chose, the handlers of what institutions send (:mod:`.platform_wire`), bid
opening (:mod:`.opening`) and the operator's requests: quit, cancel, claim, give up, invoice.

Every request to an institution is written to the outbox with the change that causes it; what an answer
must change (the bidder's redirect address, the institution taking the project key, a give-up refused) is
done by the sender's ``on_answer`` hooks, :meth:`TenderPlatform.answer_hooks`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderApplication, TenderBidSection, TenderEvent, TenderGiveUp
from baohan.domain.ids import new_id
from baohan.domain.tender import Event, TenderRefused, check_money, check_rate
from baohan.gm import CertificateError, SM2Certificate
from baohan.protocols.tender.sealing import (
    KeyText,
    SealingError,
    encode_key,
    new_project_key,
    seal_application,
    seal_project_field,
)
from baohan.protocols.tender.wire import number_text
from baohan.services.tender.opening import open_now, profile_of, restoring
from baohan.services.tender.platform_wire import PlatformWire
from baohan.services.tender.reception import Reception
from baohan.services.tender.requests import Requests
from baohan.services.tender.roles import Context, TenderRoleBase
from baohan.services.tender.sections import BidSections
from baohan.services.tender.sender import Delivery, OnAnswer
from baohan.services.tender.store import Sealed, check_text

CENT = Decimal("0.01")
BIDDER_NAME_MAX, BIDDER_CODE_MAX, APPLYDATA_MAX = 200, 50, 2000  # spec 004's limits
T = TypeVar("T")
# The wire's limits on the project fields as they travel (sealed, Base64), and those the spec requires.
SEALED_LIMITS = {"biaoduanno": 500, "biaoduanname": 1000, "zbr": 500, "zbrorgnum": 200}
REQUIRED_FIELDS = frozenset({"biaoduanno", "biaoduanname", "zbr"})
REDIRECT = "redirect"  # the history event keeping where the bidder goes to open the application
REFUSED = "refused"  # the history event keeping a request the institution refused for good


class PlatformError(ValueError):
    """An operator or bidder action the platform cannot do; the message says why."""


@dataclass(frozen=True, slots=True)
class Quote:
    """One institution's offer to a bidder for a bid section."""

    id: str
    counterparty_id: str
    institution: str
    product: str
    rate: Decimal
    premium: Decimal
    chosen: bool


def _section_row(row: TenderBidSection) -> dict[str, Any]:
    return {
        "id": row.id,
        "biaoduanno": row.code,
        "kaibiaotime": row.kaibiaotime,
        "opened_at": row.opened_at,
        "created_at": row.created_at,
    }


def premium(rate: Decimal, bzj_amount: Decimal) -> Decimal:
    """The premium of ``rate`` on the bid bond ``bzj_amount``, in cents (half up)."""
    check_rate("rate", rate)
    check_money("bzjamount", bzj_amount)
    return (rate * bzj_amount).quantize(CENT, rounding=ROUND_HALF_UP)


class TenderPlatform(TenderRoleBase):
    """The platform role: the router's Endpoint and the platform's use cases."""

    side: ClassVar[str] = "platform"

    def __init__(
        self, context: Context, sections: BidSections, reception: Reception, requests: Requests
    ) -> None:
        self.sections = sections
        self.reception = reception
        self.requests = requests
        super().__init__(context, PlatformWire(sections, reception, requests).handlers())

    # -- bid sections and quotes ------------------------------------------------------------------------------

    def add_section(
        self, fields: Mapping[str, str], kaibiaotime: datetime, *, key_text: KeyText = "hex"
    ) -> str:
        """A bid section with a fresh project key (``ascii`` for institutions that take it as text); its id."""
        key = new_project_key(key_text)
        plain = {name: value for name, value in fields.items() if value}
        try:
            sealed = {name: seal_project_field(value, key) for name, value in plain.items()}
        except (AttributeError, TypeError):
            raise PlatformError("fields: every project field is text") from None
        for name, limit in SEALED_LIMITS.items():
            if name in REQUIRED_FIELDS and name not in plain:
                raise PlatformError(f"fields.{name}: required")
            if len(sealed.get(name, "")) > limit:
                raise PlatformError(
                    f"fields.{name}: too long; sealed it is over the wire's {limit} characters"
                )
        with transaction(self.context.sessions) as session:
            try:
                section = self.sections.add(
                    session,
                    project_key=key,
                    fields=plain,
                    sealed_values=sealed,
                    kaibiaotime=kaibiaotime,
                    now=self.context.clock(),
                )
            except ValueError as exc:
                raise PlatformError(str(exc)) from None
            return section.id

    def offer(
        self,
        section_id: str,
        bidder_code: str,
        institution_id: str,
        product: str,
        rate: Decimal,
        bzj_amount: Decimal,
    ) -> Quote:
        """Record an institution's offer of ``product`` at ``rate`` to the bidder; premium = rate × bzjamount."""
        peer = self._institution(institution_id)
        if not product.strip() or len(product) > 100:
            raise PlatformError("product: 1 to 100 characters")
        try:
            amount = premium(rate, bzj_amount)
        except ValueError as exc:
            raise PlatformError(str(exc)) from None
        with transaction(self.context.sessions) as session:
            section = self._section(session, section_id)
            try:
                row = self.sections.quote(
                    session,
                    section,
                    bidder_code=bidder_code,
                    counterparty_id=peer.id,
                    product=product,
                    rate=rate,
                    premium=amount,
                    now=self.context.clock(),
                )
            except ValueError as exc:
                raise PlatformError(str(exc)) from None
            session.flush()
            return Quote(row.id, peer.id, peer.name, row.product, row.rate, row.premium, row.chosen)

    def quotes(self, section_id: str, bidder_code: str) -> list[Quote]:
        """The offers for the bidder on the section, cheapest first, to choose from."""
        with self.context.sessions() as session:
            rows = self.sections.quotes(session, section_id, bidder_code)
        names = {peer.id: peer.name for peer in self.context.registry.peers()}
        return [
            Quote(
                q.id,
                q.counterparty_id,
                names.get(q.counterparty_id, q.counterparty_id),
                q.product,
                q.rate,
                q.premium,
                q.chosen,
            )
            for q in rows
        ]

    def offer_of(
        self, section_id: str, bidder_code: str, institution_id: str, product: str | None = None
    ) -> Quote:
        """The offer ``institution_id`` made the bidder on the section (its ``product`` when it offers
        several): what the bidder chooses by institution. PlatformError when there is none, or several."""
        peer = self._institution(institution_id)
        with self.context.sessions() as session:
            self._section(session, section_id)
        offers = [
            q
            for q in self.quotes(section_id, bidder_code)
            if q.counterparty_id == peer.id and product in (None, q.product)
        ]
        if not offers:
            wanted = f" of product {product}" if product is not None else ""
            raise PlatformError(
                f"institution: {peer.name} made bidder {bidder_code} no offer{wanted} on this section"
            )
        if len(offers) > 1:
            products = ", ".join(q.product for q in offers)
            raise PlatformError(f"product: {peer.name} offers several ({products}); name one")
        return offers[0]

    def submit(
        self,
        section_id: str,
        quote_id: str,
        *,
        bidder_name: str,
        bidder_code: str,
        bzj_amount: Decimal,
        certificate_pem: str,
    ) -> TenderApplication:
        """The bidder applies with the offer they chose: the project fields sealed with the section's key,
        the application sealed for the bidder's certificate, sent (baohanapply) to the institution."""
        try:
            check_money("bzjamount", bzj_amount)
            check_text("biddername", bidder_name, BIDDER_NAME_MAX)
            check_text("biddercode", bidder_code, BIDDER_CODE_MAX)
        except ValueError as exc:
            raise PlatformError(str(exc)) from None
        try:
            certificate = SM2Certificate.load(certificate_pem)
        except (CertificateError, ValueError) as exc:
            raise PlatformError(f"certificate: not an SM2 certificate ({exc})") from None
        now = self.context.clock()
        with transaction(self.context.sessions) as session:
            section = self._section(session, section_id)
            if now >= section.kaibiaotime or section.opened_at is not None:
                raise PlatformError(f"bid section {section.code} opened at {section.kaibiaotime.isoformat()}")
            quote = next(
                (q for q in self.sections.quotes(session, section.id, bidder_code) if q.id == quote_id), None
            )
            if quote is None:
                raise PlatformError(
                    f"quote: {quote_id} is not an offer to bidder {bidder_code} on this section"
                )
            if premium(quote.rate, bzj_amount) != quote.premium:
                raise PlatformError(
                    f"bzjamount: the offer's premium {quote.premium} was made for another amount than {bzj_amount}"
                )
            profile = profile_of(session, quote.counterparty_id)
            if profile.sm4_key_text == "ascii":
                try:
                    encode_key(self.sections.project_key(section), "ascii")
                except SealingError:
                    raise PlatformError(
                        "key: this institution takes the project key as ASCII text; add the section with key_text ascii"
                    ) from None
            application = {
                "biddername": bidder_name,
                "biddercode": bidder_code,
                "bzjamount": number_text(bzj_amount),
                **section.sealed_values,
            }
            applydata, envelope = seal_application(
                application,
                certificate.public_key,
                layout=profile.sm2_layout,
                prefix=profile.sm2_prefix,
                encoding=profile.encoding,
            )
            if len(applydata) > APPLYDATA_MAX:
                raise PlatformError(
                    f"applydata: the sealed application is {len(applydata)} characters, the wire takes {APPLYDATA_MAX}"
                )
            if not profile.platformcode:
                raise PlatformError(
                    "platformcode: the institution's profile names none; set it to ours first"
                )
            sealed = Sealed(new_id(), profile.platformcode, applydata, envelope)
            try:
                app, _ = self.context.store.add(
                    session, quote.counterparty_id, sealed, now=now, actor="bidder", bid_section_id=section.id
                )
                self.sections.choose(session, quote.id, app.id)
            except ValueError as exc:
                raise PlatformError(str(exc)) from None
            app.bidder_name, app.bidder_code, app.bzj_amount = bidder_name, bidder_code, bzj_amount
            app.sealed_fields = dict(section.sealed_values)
            app.bidder_certificate_pem = certificate.to_pem()
            app.kaibiaotime = section.kaibiaotime
            fields = {"applyno": sealed.applyno, "applydata": applydata, "digitalenvelope": envelope}
            self.context.notify(session, app, "baohanapply", fields)
            session.flush()
            session.expunge(app)
            return app

    def open_section_now(self, section_id: str) -> int:
        """Open the bid section now: every issued guarantee of it is restored at once; how many."""
        with transaction(self.context.sessions) as session:
            section = self._section(session, section_id)
            try:
                apps = open_now(self.context, self.sections, session, section, now=self.context.clock())
            except ValueError as exc:
                raise PlatformError(str(exc)) from None
            for app in session.scalars(
                select(TenderApplication).where(TenderApplication.bid_section_id == section.id)
            ):
                app.kaibiaotime = section.kaibiaotime
            return len(apps)

    def sections_list(self) -> list[dict[str, Any]]:
        """Every bid section as operators see it: its number, opening time and whether it was opened (the
        plain project fields stay sealed at rest)."""
        with self.context.sessions() as session:
            rows = session.scalars(select(TenderBidSection).order_by(TenderBidSection.kaibiaotime))
            return [_section_row(row) for row in rows]

    def section(self, section_id: str) -> dict[str, Any]:
        """The bid section ``section_id`` as :meth:`sections_list` shows it; PlatformError if there is none."""
        with self.context.sessions() as session:
            return _section_row(self._section(session, section_id))

    # -- the operator's requests -------------------------------------------------------------------------------

    def quit(self, key: str, reason: str, *, actor: str = "operator") -> None:
        """Ask the institution to take the guarantee back (quitapply), only before the bid opens."""
        with transaction(self.context.sessions) as session:
            app = self._app(session, key)
            self._refusable(
                lambda: self.requests.request_quit(
                    session, app, reason, now=self.context.clock(), actor=actor
                )
            )
            self.context.notify(
                session,
                app,
                "quitapply",
                {"applyno": app.applyno, "baohanno": app.baohanno, "reason": reason.strip()},
            )

    def cancel(self, key: str, *, actor: str = "operator") -> None:
        """Cancel the guarantee (canclenotice), when the institution's profile takes cancellations."""
        with transaction(self.context.sessions) as session:
            app = self._app(session, key)
            if not profile_of(session, app.counterparty_id).uses_cancel:
                raise PlatformError(f"cancel: the institution of {app.applyno} does not take canclenotice")
            self._refusable(
                lambda: self.context.store.move(
                    session, app, Event.CANCEL, now=self.context.clock(), actor=actor
                )
            )
            self.context.notify(
                session, app, "canclenotice", {"applyno": app.applyno, "baohanno": app.baohanno}
            )

    def claim(
        self,
        key: str,
        *,
        applyusername: str,
        applyuserphone: str,
        payeraccount: str | None = None,
        payeramount: Decimal | None = None,
        reason: str | None = None,
        file_urls: Sequence[str] = (),
        actor: str = "operator",
    ) -> None:
        """Claim on the guarantee for the tenderer (claimsnotice), its documents listed by URL."""
        fields: dict[str, Any] = {
            "payeraccount": payeraccount,
            "payeramount": payeramount,
            "applyusername": applyusername,
            "applyuserphone": applyuserphone,
            "reason": reason,
            "filelist": json.dumps([{"fileurl": url} for url in file_urls]) if file_urls else None,
        }
        for name in ("applyusername", "applyuserphone"):
            if not str(fields[name] or "").strip():
                raise PlatformError(f"{name}: required")
        with transaction(self.context.sessions) as session:
            app = self._app(session, key)
            # The claim is the institution's to decide; ours is its history (no personal field in it).
            shown = {"payeramount": payeramount, "reason": reason, "documents": list(file_urls)}
            self._refusable(
                lambda: self.context.store.move(
                    session,
                    app,
                    Event.OPEN_CLAIM,
                    now=self.context.clock(),
                    actor=actor,
                    detail={k: v for k, v in shown.items() if v},
                )
            )
            self.context.notify(
                session,
                app,
                "claimsnotice",
                {
                    "applyno": app.applyno,
                    "baohanno": app.baohanno,
                    **{k: v for k, v in fields.items() if v is not None},
                },
            )

    def give_up(self, key: str, *, actor: str = "bidder") -> str:
        """The bidder gives up the application (giveupapply); the institution decides. The give-up's id."""
        with transaction(self.context.sessions) as session:
            app = self._app(session, key)
            record = self._refusable(
                lambda: self.requests.give_up_sent(session, app, now=self.context.clock())
            )
            self.context.notify(session, app, "giveupapply", {"applyno": app.applyno})
            return record.id

    def invoice(self, key: str, details: Mapping[str, str], *, actor: str = "bidder") -> None:
        """Ask for the premium's invoice (invoiceapply): ``details`` are type (0 普票, 1 专票), and for a
        special invoice address, phone, bank and account; email, mobile, contact name and address optional."""
        allowed = {
            "type",
            "address",
            "phone",
            "bank",
            "account",
            "email",
            "mobile",
            "contactname",
            "contactaddress",
        }
        unknown = sorted(set(details) - allowed)
        if unknown:
            raise PlatformError(f"invoice: unknown details {', '.join(unknown)}")
        if details.get("type") not in ("0", "1"):
            raise PlatformError("type: must be 0 (普票) or 1 (专票)")
        if details["type"] == "1":
            missing = [
                n for n in ("address", "phone", "bank", "account") if not (details.get(n) or "").strip()
            ]
            if missing:
                raise PlatformError(f"{', '.join(missing)}: required when type is 1 (专票)")
        with transaction(self.context.sessions) as session:
            app = self._app(session, key)
            if app.cost is None:
                raise PlatformError(f"invoice: application {app.applyno} has no premium yet")
            fields: dict[str, Any] = {
                "applyno": app.applyno,
                "baohanno": app.baohanno,
                "biddername": app.bidder_name,
                "biddercode": app.bidder_code,
                "amount": app.cost,
                **{k: v for k, v in details.items() if v},
            }
            cost = app.cost
            self._refusable(
                lambda: self.requests.request_invoice(
                    session, app, request=dict(details), amount=cost, now=self.context.clock(), actor=actor
                )
            )
            self.context.notify(session, app, "invoiceapply", fields)

    # -- reading ----------------------------------------------------------------------------------------------

    def application(self, key: str) -> TenderApplication:
        """An application by our id or its applyno."""
        with self.context.sessions() as session:
            app = self._app(session, key)
            session.expunge(app)
            return app

    def history(self, key: str) -> list[TenderEvent]:
        """Everything that happened to the application, oldest first."""
        with self.context.sessions() as session:
            events = self.context.store.history(session, self._app(session, key))
            session.expunge_all()
            return events

    def redirect_url(self, key: str) -> str | None:
        """Where the bidder goes to open the application, once the institution answered."""
        for event in reversed(self.history(key)):
            if event.event == REDIRECT:
                return str(event.detail.get("redirecturl"))
        return None

    # -- answers ----------------------------------------------------------------------------------------------

    def answer_hooks(self) -> dict[str, OnAnswer]:
        """What the platform does with institutions' answers, by interface (for the sender)."""
        return {
            "baohanapply": self._applied,
            "baohanrestore": self._restore_answered,
            "giveupapply": self._give_up_answered,
            "quitapply": self._quit_refused,
            "invoiceapply": self._invoice_refused,
            "canclenotice": self._refused,
            "claimsnotice": self._refused,
        }

    def _note(self, session: Session, app: TenderApplication, event: str, detail: dict[str, Any]) -> None:
        """A history entry that moves nothing (where the bidder goes, a request the institution refused)."""
        session.add(
            TenderEvent(
                application_pk=app.id,
                event=event,
                from_stage=app.stage,
                to_stage=app.stage,
                actor="institution",
                detail=detail,
                at=self.context.clock(),
            )
        )

    def _refused(self, delivery: Delivery) -> None:
        """The institution refused a request for good: the operator sees why in the history."""
        if delivery.ok:
            return
        with transaction(self.context.sessions) as session:
            app = self.context.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            if app is not None:
                self._note(
                    session, app, REFUSED, {"interface": delivery.interface, "message": delivery.reason}
                )

    def _quit_refused(self, delivery: Delivery) -> None:
        """quitapply refused at the door: the quit is over, the guarantee stands as it was."""
        self._refused(delivery)
        if delivery.ok:
            return
        with transaction(self.context.sessions) as session:
            app = self.context.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            if app is not None and self.requests.pending_quit(session, app) is not None:
                self.requests.decide_quit(
                    session,
                    app,
                    accept=False,
                    now=self.context.clock(),
                    actor="institution",
                    reason=delivery.reason or "refused",
                )

    def _invoice_refused(self, delivery: Delivery) -> None:
        """invoiceapply refused at the door: another may be asked."""
        self._refused(delivery)
        if delivery.ok:
            return
        with transaction(self.context.sessions) as session:
            app = self.context.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            if app is not None and app.stage == "invoice_requested":
                self.requests.refuse_invoice(
                    session, app, delivery.reason or "refused", now=self.context.clock(), actor="institution"
                )

    def _applied(self, delivery: Delivery) -> None:
        url = delivery.data.get("redirecturl")
        if not delivery.ok or not url:
            return
        with transaction(self.context.sessions) as session:
            app = self.context.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            if app is not None:
                self._note(session, app, REDIRECT, {"redirecturl": str(url)})

    def _restore_answered(self, delivery: Delivery) -> None:
        if not delivery.ok:
            return
        with transaction(self.context.sessions) as session:
            app = self.context.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            if app is not None:
                restoring(self.context, self.sections, session, app, actor="institution")

    def _give_up_answered(self, delivery: Delivery) -> None:
        with transaction(self.context.sessions) as session:
            app = self.context.store.by_applyno(session, delivery.peer.id, str(delivery.fields["applyno"]))
            if app is None:
                return
            record = session.scalars(
                select(TenderGiveUp).where(
                    TenderGiveUp.application_pk == app.id,
                    TenderGiveUp.origin == "platform",
                    TenderGiveUp.status == "pending",
                )
            ).first()
            if record is not None:
                self.requests.give_up_answered(
                    session,
                    record,
                    accepted=delivery.ok,
                    message=delivery.reason,
                    now=self.context.clock(),
                    actor="institution",
                )

    # -- internals --------------------------------------------------------------------------------------------

    def _institution(self, institution_id: str) -> Any:
        try:
            return self.context.registry.peer(institution_id)
        except KeyError:
            raise PlatformError(f"institution: {institution_id} is not a registered institution") from None

    def _section(self, session: Session, section_id: str) -> Any:
        try:
            return self.sections.get(session, section_id)
        except LookupError as exc:
            raise PlatformError(str(exc)) from None

    def _app(self, session: Session, key: str) -> TenderApplication:
        app = session.get(TenderApplication, key)
        if app is None or app.side != self.side:
            app = session.scalars(
                select(TenderApplication).where(
                    TenderApplication.side == self.side, TenderApplication.applyno == key
                )
            ).first()
        if app is None:
            raise PlatformError(f"no application {key}")
        return app

    @staticmethod
    def _refusable(action: Callable[[], T]) -> T:
        try:
            return action()
        except (TenderRefused, LookupError, ValueError) as exc:
            raise PlatformError(str(exc)) from None
