"""The app of one ``baohan serve`` process, built from environment variables.

Each process listens on the two sockets the CLI bound (the protocol's and the admin API's) and tells
them apart by the admin listener's port.

uvicorn starts each of several worker processes from an import string, so the settings cannot be passed
as arguments: the CLI checks them, puts them in the environment (:meth:`ServeSettings.to_env`) and names
:func:`hosted_app` as the factory; every worker then opens its own runtime (database pool, key store,
dispatcher thread) on the already-migrated database, hosting the role of each protocol served.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from baohan.adapters.documents.letter import check_letter_setup
from baohan.adapters.keystore import SecretBox
from baohan.domain.underwriting import Rules, rules_from_dict
from baohan.gm import CertificateError, SM2Certificate
from baohan.services import runtime as shared
from baohan.services.procurement.issuer import IssuerSettings
from baohan.services.procurement.runtime import DEFAULT_RULES, RoleRuntime
from baohan.services.procurement.runtime import build_issuer as procurement_issuer
from baohan.services.procurement.runtime import build_platform as procurement_platform
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.issuer import IssuerSettings as TenderIssuerSettings
from baohan.services.tender.platform_runtime import build_platform as tender_platform
from baohan.services.tender.runtime import build_issuer as tender_issuer
from baohan.web import procurement, tender
from baohan.web.bidder import SmCryptoMissing, sm_crypto_dir
from baohan.web.host import Mount, host_app

FACTORY = "baohan.web.worker:hosted_app"
ADMIN_TOKEN_ENV = "BAOHAN_ADMIN_TOKEN"  # noqa: S105 - the variable name, not a secret  # nosec B105
DB_ENV = "BAOHAN_DB"
_PROTOCOLS, _PUBLIC_URL, _BIDDER_CAS, _CREDIT_CODE = (
    "BAOHAN_SERVE_PROTOCOLS",
    "BAOHAN_SERVE_PUBLIC_URL",
    "BAOHAN_SERVE_BIDDER_CAS",
    "BAOHAN_SERVE_CREDIT_CODE",
)
_ROLE, _RULES, _NAME, _FILES, _DISPATCH, _CONCURRENCY, _ADMIN_PORT = (
    "BAOHAN_SERVE_ROLE",
    "BAOHAN_SERVE_RULES",
    "BAOHAN_SERVE_INSTITUTION_NAME",
    "BAOHAN_SERVE_FILES_DIR",
    "BAOHAN_SERVE_DISPATCH",
    "BAOHAN_SERVE_DELIVERY_CONCURRENCY",
    "BAOHAN_SERVE_ADMIN_PORT",
)


def load_rules(path: Path | None) -> Rules:
    """Underwriting rules from a JSON file, or the default ones; ValueError/OSError naming what is wrong."""
    if path is None:
        return DEFAULT_RULES
    return rules_from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class ServeSettings:
    """What one server process needs besides the passphrase and the admin token (already in the environment)."""

    role: str
    db: str
    protocols: tuple[str, ...] = ("procurement",)  # each one's ``role`` is hosted, on one runtime
    rules: Path | None = None
    institution_name: str | None = None  # checked against our certificate, whose name the letters carry
    files_dir: Path | None = None
    dispatch: bool = True
    delivery_concurrency: int = 32
    admin_port: int = 8601  # the admin listener's port: connections to it get the admin API
    public_url: str | None = None  # where bidders reach the protocol listener (tender issuer's links)
    bidder_cas: tuple[Path, ...] = ()  # tender issuer: the CAs a bidder's certificate must chain to
    credit_code: str = ""  # tender issuer: our unified social credit code, the invoices' seller

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back."""
        return {
            _PROTOCOLS: ",".join(self.protocols),
            _PUBLIC_URL: self.public_url or "",
            _BIDDER_CAS: os.pathsep.join(str(path) for path in self.bidder_cas),
            _CREDIT_CODE: self.credit_code,
            _ROLE: self.role,
            DB_ENV: self.db,
            _RULES: str(self.rules or ""),
            _NAME: self.institution_name or "",
            _FILES: str(self.files_dir or ""),
            _DISPATCH: "1" if self.dispatch else "0",
            _CONCURRENCY: str(self.delivery_concurrency),
            _ADMIN_PORT: str(self.admin_port),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServeSettings:
        """The settings the CLI left in ``env``; KeyError naming a missing variable."""
        return cls(
            role=env[_ROLE],
            db=env[DB_ENV],
            protocols=tuple(env.get(_PROTOCOLS, "procurement").split(",")),
            public_url=env.get(_PUBLIC_URL) or None,
            bidder_cas=tuple(Path(p) for p in env.get(_BIDDER_CAS, "").split(os.pathsep) if p),
            credit_code=env.get(_CREDIT_CODE, ""),
            rules=Path(env[_RULES]) if env.get(_RULES) else None,
            institution_name=env.get(_NAME) or None,
            files_dir=Path(env[_FILES]) if env.get(_FILES) else None,
            dispatch=env.get(_DISPATCH, "1") == "1",
            delivery_concurrency=int(env.get(_CONCURRENCY) or 32),
            admin_port=int(env[_ADMIN_PORT]),
        )


def _procurement_check(settings: ServeSettings, serving: bool) -> None:
    if settings.role == "issuer" and serving:
        check_letter_setup()  # an issuer signs letters: a missing font or a bad template is said now


def _procurement_role(settings: ServeSettings) -> tuple[shared.RoleBuilder, object]:
    if settings.role == "issuer":
        return procurement_issuer, IssuerSettings(settings.institution_name, load_rules(settings.rules))
    return procurement_platform, None


def _procurement_mount(runtime: shared.Runtime, settings: ServeSettings) -> Mount:
    return procurement.mount(RoleRuntime(runtime, runtime.role("procurement", settings.role)))


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


def _tender_check(settings: ServeSettings, serving: bool) -> None:
    if settings.role == "platform":
        return
    if not settings.institution_name:
        raise ValueError("the tender issuer needs --institution-name: the name its guarantees carry")
    if not settings.credit_code:
        raise ValueError("the tender issuer needs --credit-code: its invoices name the seller by it")
    if not serving:
        return
    try:  # the bidder page needs sm-crypto's browser build: said now, not when the first bidder comes
        sm_crypto_dir()
    except SmCryptoMissing as exc:
        raise ValueError(str(exc)) from None


def _tender_role(settings: ServeSettings) -> tuple[shared.RoleBuilder, object]:
    if settings.role == "platform":
        return tender_platform, None
    return tender_issuer, TenderIssuerSettings(
        public_url=settings.public_url or "http://127.0.0.1",
        institution_name=settings.institution_name or "",
        trusted_bidder_cas=load_bidder_cas(settings.bidder_cas),
        aftercare=AftercareSettings(seller_code=settings.credit_code),
    )


def _tender_mount(runtime: shared.Runtime, settings: ServeSettings) -> Mount:
    return tender.role_mount(runtime.role("tender", settings.role))


# Each protocol served: what its role needs before a worker starts (ValueError naming what is missing),
# the builder of its role with the role's settings, and the role's mount.
_HOSTING = {
    "procurement": (_procurement_check, _procurement_role, _procurement_mount),
    "tender": (_tender_check, _tender_role, _tender_mount),
}
PROTOCOLS = tuple(_HOSTING)  # what `baohan serve` offers


def check_hosting(settings: ServeSettings, *, serving: bool = True) -> None:
    """What each served protocol's role needs from this machine and its settings, checked before anything
    else; ValueError naming what is missing. ``serving=False`` (a dispatcher, an operator's command) skips
    what only answering requests needs: the letter font, the bidder page's sm-crypto."""
    for name in settings.protocols:
        if name in _HOSTING:
            _HOSTING[name][0](settings, serving)


def open_hosted(settings: ServeSettings, box: SecretBox, *, migrate: bool = False) -> shared.Runtime:
    """One runtime hosting ``settings.role`` of every protocol in ``settings.protocols``."""
    unknown = sorted(set(settings.protocols) - set(_HOSTING))
    if unknown or not settings.protocols:
        raise ValueError(f"protocols must be among {', '.join(_HOSTING)}, not {', '.join(unknown) or 'none'}")
    return shared.open_runtime(
        settings.db,
        box,
        [_HOSTING[name][1](settings) for name in settings.protocols],
        shared.RuntimeSettings(
            files_dir=settings.files_dir, migrate=migrate, delivery_concurrency=settings.delivery_concurrency
        ),
    )


def hosted_mounts(runtime: shared.Runtime, settings: ServeSettings) -> list[Mount]:
    """The mount of each protocol's role hosted on ``runtime``."""
    return [_HOSTING[name][2](runtime, settings) for name in settings.protocols]


def hosted_app() -> ASGIApp:
    """This process's app, from the environment (the factory uvicorn's workers call)."""
    try:
        settings = ServeSettings.from_env(os.environ)
    except KeyError as exc:
        raise RuntimeError(f"{FACTORY} reads ${exc.args[0]}: start it with `baohan serve`") from None
    # The parent migrated once, before starting the workers.
    runtime = open_hosted(settings, SecretBox.from_env())
    hosted = host_app(
        runtime,
        hosted_mounts(runtime, settings),
        admin_token=os.environ[ADMIN_TOKEN_ENV],
        run_dispatcher=settings.dispatch,
    )
    return hosted.on(settings.admin_port)
