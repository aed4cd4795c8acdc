"""The app of one ``baohan serve`` process, built from environment variables.

Each process listens on the two sockets the CLI bound (the protocol's and the admin API's) and tells
them apart by the admin listener's port.

uvicorn starts each of several worker processes from an import string, so the settings cannot be passed
as arguments: the CLI checks them, puts them in the environment (:meth:`ServeSettings.to_env`) and names
:func:`hosted_app` as the factory; every worker then opens its own runtime (database pool, key store,
dispatcher thread) on the already-migrated database, hosting the role of each protocol served.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from baohan.adapters.documents.letter import check_letter_setup
from baohan.adapters.keystore import SecretBox
from baohan.services import runtime as shared
from baohan.services.hosting import RoleSettings, check_roles, open_roles
from baohan.services.procurement.runtime import RoleRuntime
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


@dataclass(frozen=True)
class ServeSettings(RoleSettings):
    """What one server process needs besides the passphrase and the admin token (already in the
    environment): the roles it hosts, and how it serves them."""

    dispatch: bool = True
    admin_port: int = 8601  # the admin listener's port: connections to it get the admin API

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


def _procurement_check(settings: ServeSettings) -> None:
    if settings.role == "issuer":
        check_letter_setup()  # an issuer signs letters: a missing font or a bad template is said now


def _procurement_mount(runtime: shared.Runtime, settings: ServeSettings) -> Mount:
    return procurement.mount(RoleRuntime(runtime, runtime.role("procurement", settings.role)))


def _tender_check(settings: ServeSettings) -> None:
    if settings.role == "platform":
        return
    try:  # the bidder page needs sm-crypto's browser build: said now, not when the first bidder comes
        sm_crypto_dir()
    except SmCryptoMissing as exc:
        raise ValueError(str(exc)) from None


def _tender_mount(runtime: shared.Runtime, settings: ServeSettings) -> Mount:
    return tender.role_mount(runtime.role("tender", settings.role))


# Each protocol served: what its role needs to answer requests (ValueError naming what is missing), and
# the role's mount.
_SERVING = {
    "procurement": (_procurement_check, _procurement_mount),
    "tender": (_tender_check, _tender_mount),
}


def check_hosting(settings: ServeSettings) -> None:
    """What each served protocol's role needs of its settings and, to answer requests, of this machine
    (the letters' font, the bidder page's sm-crypto), checked before anything else; ValueError naming what
    is missing."""
    check_roles(settings)
    for name in settings.protocols:
        if name in _SERVING:
            _SERVING[name][0](settings)


def hosted_mounts(runtime: shared.Runtime, settings: ServeSettings) -> list[Mount]:
    """The mount of each protocol's role hosted on ``runtime``."""
    return [_SERVING[name][1](runtime, settings) for name in settings.protocols]


def hosted_app() -> ASGIApp:
    """This process's app, from the environment (the factory uvicorn's workers call)."""
    try:
        settings = ServeSettings.from_env(os.environ)
    except KeyError as exc:
        raise RuntimeError(f"{FACTORY} reads ${exc.args[0]}: start it with `baohan serve`") from None
    # The parent migrated once, before starting the workers.
    runtime = open_roles(settings, SecretBox.from_env())
    hosted = host_app(
        runtime,
        hosted_mounts(runtime, settings),
        admin_token=os.environ[ADMIN_TOKEN_ENV],
        run_dispatcher=settings.dispatch,
    )
    return hosted.on(settings.admin_port)
