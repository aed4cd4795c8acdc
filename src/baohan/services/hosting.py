"""Which protocol roles a process hosts, with what settings: one runtime for them all.

A server (``baohan serve``), a dispatcher beside it (``baohan dispatch``) and an operator's command
(``baohan tender-issuer``) host the same roles with the same settings; this is where those settings become
roles on :func:`baohan.services.runtime.open_runtime`, and where what a role's settings must hold is
checked. What only answering requests needs (a font for the letters, the bidder page's scripts) is the
web's to check (:func:`baohan.web.worker.check_hosting`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from baohan.adapters.keystore import SecretBox
from baohan.domain.underwriting import Rules, rules_from_dict
from baohan.gm import CertificateError, SM2Certificate
from baohan.services import runtime as shared
from baohan.services.procurement.issuer import IssuerSettings
from baohan.services.procurement.runtime import DEFAULT_RULES
from baohan.services.procurement.runtime import build_issuer as procurement_issuer
from baohan.services.procurement.runtime import build_platform as procurement_platform
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.issuer import IssuerSettings as TenderIssuerSettings
from baohan.services.tender.platform_runtime import build_platform as tender_platform
from baohan.services.tender.runtime import build_issuer as tender_issuer


@dataclass(frozen=True)
class RoleSettings:
    """The role hosted of each protocol in ``protocols``, on the database ``db``, and its settings."""

    role: str
    db: str
    protocols: tuple[str, ...] = ("procurement",)  # each one's ``role`` is hosted, on one runtime
    rules: Path | None = None
    institution_name: str | None = None  # checked against our certificate, whose name the letters carry
    files_dir: Path | None = None
    delivery_concurrency: int = 32
    public_url: str | None = None  # where bidders reach the protocol listener (tender issuer's links)
    bidder_cas: tuple[Path, ...] = ()  # tender issuer: the CAs a bidder's certificate must chain to
    credit_code: str = ""  # tender issuer: our unified social credit code, the invoices' seller


def load_rules(path: Path | None) -> Rules:
    """Underwriting rules from a JSON file, or the default ones; ValueError/OSError naming what is wrong."""
    if path is None:
        return DEFAULT_RULES
    return rules_from_dict(json.loads(path.read_text(encoding="utf-8")))


def load_bidder_cas(paths: tuple[Path, ...]) -> list[SM2Certificate]:
    """The CA certificates (PEM or DER files) bidders' certificates must chain to; ValueError/OSError
    naming the file otherwise."""
    found = []
    for path in paths:
        try:
            found.append(SM2Certificate.load(path.read_bytes()))
        except (CertificateError, ValueError) as exc:
            raise ValueError(f"{path}: not an SM2 certificate ({exc})") from None
    return found


def _procurement_role(settings: RoleSettings) -> tuple[shared.RoleBuilder, object]:
    if settings.role == "issuer":
        return procurement_issuer, IssuerSettings(settings.institution_name, load_rules(settings.rules))
    return procurement_platform, None


def _tender_check(settings: RoleSettings) -> None:
    if settings.role == "platform":
        return
    if not settings.institution_name:
        raise ValueError("the tender issuer needs --institution-name: the name its guarantees carry")
    if not settings.credit_code:
        raise ValueError("the tender issuer needs --credit-code: its invoices name the seller by it")


def _tender_role(settings: RoleSettings) -> tuple[shared.RoleBuilder, object]:
    if settings.role == "platform":
        return tender_platform, None
    return tender_issuer, TenderIssuerSettings(
        public_url=settings.public_url or "http://127.0.0.1",
        institution_name=settings.institution_name or "",
        trusted_bidder_cas=load_bidder_cas(settings.bidder_cas),
        aftercare=AftercareSettings(seller_code=settings.credit_code),
    )


# Each protocol a process can host: the builder of its role with the role's settings; and what a role's
# settings must hold beyond their types (ValueError naming what is missing). A procurement issuer's name,
# when given, is checked against its certificate as the role opens.
_ROLES: dict[str, Callable[[RoleSettings], tuple[shared.RoleBuilder, object]]] = {
    "procurement": _procurement_role,
    "tender": _tender_role,
}
_CHECKS: dict[str, Callable[[RoleSettings], None]] = {"tender": _tender_check}
PROTOCOLS = tuple(_ROLES)


def check_roles(settings: RoleSettings) -> None:
    """What each hosted protocol's role needs of its settings; ValueError naming what is missing."""
    for name in settings.protocols:
        if name in _CHECKS:
            _CHECKS[name](settings)


def open_roles(settings: RoleSettings, box: SecretBox, *, migrate: bool = False) -> shared.Runtime:
    """One runtime hosting ``settings.role`` of every protocol in ``settings.protocols``."""
    unknown = sorted(set(settings.protocols) - set(_ROLES))
    if unknown or not settings.protocols:
        raise ValueError(f"protocols must be among {', '.join(_ROLES)}, not {', '.join(unknown) or 'none'}")
    return shared.open_runtime(
        settings.db,
        box,
        [_ROLES[name](settings) for name in settings.protocols],
        shared.RuntimeSettings(
            files_dir=settings.files_dir, migrate=migrate, delivery_concurrency=settings.delivery_concurrency
        ),
    )
