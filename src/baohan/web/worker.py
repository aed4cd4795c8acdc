"""The app of one ``baohan serve`` process, built from environment variables.

Each process listens on the two sockets the CLI bound (the protocol's and the admin API's) and tells
them apart by the admin listener's port.

uvicorn starts each of several worker processes from an import string, so the settings cannot be passed
as arguments: the CLI checks them, puts them in the environment (:meth:`ServeSettings.to_env`) and names
:func:`procurement_app` as the factory; every worker then opens its own runtime (database pool, key store,
dispatcher thread) on the already-migrated database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp

from baohan.adapters.keystore import SecretBox
from baohan.domain.underwriting import Rules, rules_from_dict
from baohan.services.procurement.runtime import DEFAULT_RULES, open_runtime
from baohan.web.procurement import create_app

FACTORY = "baohan.web.worker:procurement_app"
ADMIN_TOKEN_ENV = "BAOHAN_ADMIN_TOKEN"  # noqa: S105 - the variable name
DB_ENV = "BAOHAN_DB"
_ROLE, _RULES, _NAME, _FILES, _DISPATCH, _CONCURRENCY, _ADMIN_PORT = (
    "BAOHAN_SERVE_ROLE",
    "BAOHAN_SERVE_RULES",
    "BAOHAN_SERVE_INSTITUTION_NAME",
    "BAOHAN_SERVE_FILES_DIR",
    "BAOHAN_SERVE_DISPATCH",
    "BAOHAN_SERVE_DELIVERY_CONCURRENCY",
    "BAOHAN_SERVE_ADMIN_PORT",
)
DEFAULT_INSTITUTION_NAME = "baohan 示范担保有限公司"


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
    rules: Path | None = None
    institution_name: str = DEFAULT_INSTITUTION_NAME
    files_dir: Path | None = None
    dispatch: bool = True
    delivery_concurrency: int = 32
    admin_port: int = 8601  # the admin listener's port: connections to it get the admin API

    def to_env(self) -> dict[str, str]:
        """The environment variables :meth:`from_env` reads back."""
        return {
            _ROLE: self.role,
            DB_ENV: self.db,
            _RULES: str(self.rules or ""),
            _NAME: self.institution_name,
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
            rules=Path(env[_RULES]) if env.get(_RULES) else None,
            institution_name=env.get(_NAME) or DEFAULT_INSTITUTION_NAME,
            files_dir=Path(env[_FILES]) if env.get(_FILES) else None,
            dispatch=env.get(_DISPATCH, "1") == "1",
            delivery_concurrency=int(env.get(_CONCURRENCY) or 32),
            admin_port=int(env[_ADMIN_PORT]),
        )


def procurement_app() -> ASGIApp:
    """The role's app for this process, from the environment (the factory uvicorn's workers call)."""
    try:
        settings = ServeSettings.from_env(os.environ)
    except KeyError as exc:
        raise RuntimeError(
            f"{FACTORY} reads ${exc.args[0]}: start it with `baohan serve procurement`"
        ) from None
    runtime = open_runtime(
        settings.role,
        settings.db,
        SecretBox.from_env(),
        institution_name=settings.institution_name,
        rules=load_rules(settings.rules),
        files_dir=settings.files_dir,
        migrate=False,  # the parent migrated once, before starting the workers
        delivery_concurrency=settings.delivery_concurrency,
    )
    hosted = create_app(runtime, admin_token=os.environ[ADMIN_TOKEN_ENV], run_dispatcher=settings.dispatch)
    return hosted.on(settings.admin_port)
