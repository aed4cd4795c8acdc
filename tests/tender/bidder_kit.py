"""A bidder with an SM2 certificate and an application sealed for it, as the platform would send it.

Sealed by baohan.protocols.tender.sealing (PRODUCT.md's tender wire defaults); the project fields are
sealed under a project key the institution does not have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender import sealing
from baohan.protocols.tender.agreement import render_agreement, verify_agreement_signature
from baohan.protocols.tender.bidder import BidderError, OpenedApplication, accept_opened_key
from baohan.services.tender.bidder_desk import BidderView, DeskState, UnknownToken

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


class MemoryDesk:
    """A BidderDesk over one sealed application in memory, checking what it accepts with the real
    protocol functions. The issuer role's desk (over its store) comes when that role lands."""

    def __init__(self, sealed: SealedApplication, token: str, trusted: list[SM2Certificate]) -> None:
        self.sealed, self.token, self.trusted = sealed, token, trusted
        self.state = DeskState.SEALED
        self.opened: OpenedApplication | None = None
        self.signer: SM2Certificate | None = None
        self.signature: str | None = None

    def _check(self, token: str) -> None:
        if token != self.token:
            raise UnknownToken(token)

    def view(self, token: str) -> BidderView:
        self._check(token)
        readable = self.opened.readable() if self.opened else {}
        s = self.sealed
        return BidderView(s.applyno, s.applydata, s.digitalenvelope, self.state, readable)

    def accept_key(self, token: str, key_hex: str) -> BidderView:
        self._check(token)
        self.opened = accept_opened_key(self.sealed.applydata, key_hex)
        if self.state is DeskState.SEALED:
            self.state = DeskState.OPENED
        return self.view(token)

    def agreement(self, token: str) -> bytes:
        self._check(token)
        if self.opened is None:
            raise BidderError("state", "open the application first")
        return render_agreement(self.sealed.applyno, self.opened.fields, INSTITUTION)

    def accept_signature(self, token: str, certificate_pem: str, signature: str) -> BidderView:
        text = self.agreement(token)
        self.signer = verify_agreement_signature(text, certificate_pem, signature, trusted=self.trusted)
        self.signature, self.state = signature, DeskState.SIGNED
        return self.view(token)
