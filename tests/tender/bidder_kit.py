"""A bidder with an SM2 certificate and an application sealed for it, as the platform would send it.

Sealed by baohan.protocols.tender.sealing (PRODUCT.md's tender wire defaults); the project fields are
sealed under a project key the institution does not have. :class:`StoreDesk` serves it through the
issuer role's real bidder desk over a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baohan.adapters.db import migrate
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender import sealing
from baohan.protocols.tender.bidder import OpenedApplication, accept_opened_key
from baohan.services.tender.bidder_desk import BidderView, DeskState
from baohan.services.tender.bidder_links import link_token
from baohan.services.tender.issuer_desk import IssuerDesk
from baohan.services.tender.store import Sealed
from tests.tender.role_kit import add_platform, context
from tests.tender.wire_peer import channel

PLAIN_PROJECT = {
    "biaoduanno": "BD-2026-0042",
    "biaoduanname": "城东污水处理厂二期土建施工标段",
    "zbr": "某市水务投资集团有限公司",
    "zbrorgnum": "91330100MA2XXXXXX1",
}


@dataclass
class Bidder:
    """A bidder's key, its certificate, and the CA that issued it."""

    key: SM2PrivateKey
    certificate: SM2Certificate
    ca: SM2Certificate
    ca_key: SM2PrivateKey = field(repr=False)


def make_bidder(name: str = "投标人甲建设有限公司") -> Bidder:
    """A fresh bidder CA and a bidder certificate it issued."""
    ca_key = SM2PrivateKey.generate()
    ca = make_ca("CN=Bidder Test CA,O=baohan,C=CN", ca_key)
    key = SM2PrivateKey.generate()
    certificate = issue_certificate(ca, ca_key, f"CN={name},C=CN", key.public_key)
    return Bidder(key=key, certificate=certificate, ca=ca, ca_key=ca_key)


@dataclass
class SealedApplication:
    """What baohanapply carries, and what the test knows besides: K and the plain application."""

    applyno: str
    applydata: str
    digitalenvelope: str
    key: bytes
    application: dict[str, Any]


def seal_application(
    bidder: Bidder, *, applyno: str = "APPLY-20261130-0001", **fields: Any
) -> SealedApplication:
    """An application for ``bidder`` with its project fields sealed under a fresh project key."""
    application = sealing.seal_project_fields(
        {
            "biddername": "投标人甲建设有限公司",
            "biddercode": "91330106MA27XXXX0K",
            "bzjamount": "80000.00",
            **PLAIN_PROJECT,
            **fields,
        },
        sealing.new_project_key(),
    )
    applydata, digitalenvelope = sealing.seal_application(application, bidder.certificate.public_key)
    return SealedApplication(
        applyno=applyno,
        applydata=applydata,
        digitalenvelope=digitalenvelope,
        key=sealing.open_envelope(digitalenvelope, bidder.key),
        application=application,
    )


INSTITUTION = "某某担保有限公司"


class StoreDesk:
    """The issuer role's real bidder desk (:class:`IssuerDesk`) over one stored application in a SQLite
    database at ``db_path``, with what the tests look at: the state, K once accepted, the signer kept."""

    def __init__(self, sealed: SealedApplication, trusted: list[SM2Certificate], db_path: Path) -> None:
        url = f"sqlite:///{db_path}"
        migrate.upgrade(url)
        self._engine = make_engine(url)
        ctx = context(make_session_factory(self._engine))
        peer = add_platform(ctx, channel())
        with transaction(ctx.sessions) as session:
            app, _ = ctx.store.add(
                session,
                peer.id,
                Sealed(sealed.applyno, "P-0001", sealed.applydata, sealed.digitalenvelope),
                now=ctx.clock(),
                actor="platform",
            )
        self.sealed, self.token, self._ctx = sealed, link_token(ctx.box, app.id), ctx
        self._app_pk = app.id
        self.desk = IssuerDesk(ctx, institution=INSTITUTION, trusted=trusted)
        self.opened: OpenedApplication | None = None

    @property
    def state(self) -> DeskState:
        return self.desk.view(self.token).state

    @property
    def signer(self) -> SM2Certificate | None:
        with self._ctx.sessions() as session:
            agreement = self._ctx.store.agreement(session, self._ctx.store.get(session, self._app_pk))
            return SM2Certificate.load(agreement.certificate_pem) if agreement is not None else None

    def view(self, token: str) -> BidderView:
        return self.desk.view(token)

    def accept_key(self, token: str, key_hex: str) -> BidderView:
        view = self.desk.accept_key(token, key_hex)
        self.opened = accept_opened_key(self.sealed.applydata, key_hex)
        return view

    def agreement(self, token: str) -> bytes:
        return self.desk.agreement(token)

    def accept_signature(self, token: str, certificate_pem: str, signature: str) -> BidderView:
        return self.desk.accept_signature(token, certificate_pem, signature)

    def close(self) -> None:
        self._engine.dispose()
