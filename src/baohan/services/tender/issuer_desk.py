"""The issuer's bidder desk over its store: what the bidder page asks, keyed by the token in redirecturl.

K is checked against the stored ``applydata`` (the bidder opened the envelope on their side); the opening
keeps the readable fields and the project fields still as ciphertext. The agreement is rendered from the
stored application each time, so the bytes the bidder signs are the bytes checked and attached; the
signature is checked against the bidder's certificate, which must come from a bidder CA we trust.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import TenderApplication
from baohan.domain.tender import Stage, TenderRefused
from baohan.gm import SM2Certificate
from baohan.protocols.tender.agreement import render_agreement, verify_agreement_signature
from baohan.protocols.tender.bidder import READABLE_FIELDS, BidderError, accept_opened_key
from baohan.services.tender.bidder_desk import BidderView, DeskState, UnknownToken
from baohan.services.tender.bidder_links import application_of
from baohan.services.tender.issuing import AGREEMENT_FILE
from baohan.services.tender.roles import Context
from baohan.services.tender.store import Opened


def _state(ctx: Context, session: Session, app: TenderApplication) -> DeskState:
    if ctx.store.agreement(session, app) is not None:
        return DeskState.SIGNED
    return DeskState.OPENED if app.bidder_name is not None else DeskState.SEALED


def _readable(app: TenderApplication) -> dict[str, str]:
    if app.bidder_name is None or app.bidder_code is None or app.bzj_amount is None:
        return {}
    values = (app.bidder_name, app.bidder_code, f"{app.bzj_amount:.2f}")
    return dict(zip(READABLE_FIELDS, values, strict=True))


class IssuerDesk:
    """The :class:`~baohan.services.tender.bidder_desk.BidderDesk` of the issuer role."""

    def __init__(
        self,
        ctx: Context,
        *,
        institution: str,
        trusted: Sequence[SM2Certificate],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._ctx = ctx
        self._institution = institution
        self._trusted = tuple(trusted)
        self._clock = clock or ctx.clock

    def _app(self, session: Session, token: str) -> TenderApplication:
        try:
            return self._ctx.store.get(session, application_of(self._ctx.box, token))
        except LookupError:
            raise UnknownToken("token") from None

    def _view(self, session: Session, app: TenderApplication) -> BidderView:
        return BidderView(
            app.applyno, app.applydata, app.digitalenvelope, _state(self._ctx, session, app), _readable(app)
        )

    def view(self, token: str) -> BidderView:
        """The application behind ``token`` and how far the bidder is."""
        with self._ctx.sessions() as session:
            return self._view(session, self._app(session, token))

    def accept_key(self, token: str, key_hex: str) -> BidderView:
        """Keep what K opens (readable fields; project fields still sealed) if K opens the application."""
        with transaction(self._ctx.sessions) as session:
            app = self._app(session, token)
            opened = accept_opened_key(app.applydata, key_hex)
            if app.bidder_name is None:
                fields = opened.readable()
                try:
                    self._ctx.store.record_opened(
                        session,
                        app,
                        Opened(fields["biddername"], fields["biddercode"], opened.bzjamount, opened.sealed()),
                        now=self._clock(),
                        actor="bidder",
                    )
                except TenderRefused as exc:
                    raise BidderError("state", str(exc)) from None
                except ValueError as exc:
                    raise BidderError("application", str(exc)) from None
            return self._view(session, app)

    def agreement(self, token: str) -> bytes:
        """The agreement's exact bytes to sign; refused while the application is still sealed."""
        with self._ctx.sessions() as session:
            return self._agreement(self._app(session, token))

    def _agreement(self, app: TenderApplication) -> bytes:
        readable = _readable(app)
        if not readable:
            raise BidderError("state", "open the application with your certificate's key first")
        return render_agreement(app.applyno, {**readable, **(app.sealed_fields or {})}, self._institution)

    def accept_signature(self, token: str, certificate_pem: str, signature: str) -> BidderView:
        """Keep the signed agreement if the signature is the certificate's over it and a trusted CA issued
        the certificate; the application is then agreed."""
        if not self._trusted:
            raise BidderError(
                "certificate", "this institution trusts no bidder CA yet; ask it to configure one"
            )
        with transaction(self._ctx.sessions) as session:
            app = self._app(session, token)
            if _state(self._ctx, session, app) is DeskState.SIGNED:
                return self._view(session, app)
            if app.stage != Stage.OPENED:
                raise BidderError("state", f"the application is {app.stage}; it can no longer be signed")
            text = self._agreement(app)
            now = self._clock()
            verify_agreement_signature(text, certificate_pem, signature, trusted=self._trusted, at=now)
            file_id = self._ctx.files.put(session, AGREEMENT_FILE, text)
            self._ctx.store.record_agreement(
                session,
                app,
                certificate_pem=certificate_pem.strip(),
                signature=signature.strip(),
                file_id=file_id,
                now=now,
                actor="bidder",
            )
            return self._view(session, app)
