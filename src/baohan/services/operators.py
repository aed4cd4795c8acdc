"""Admin operators: named bearer tokens, kept at rest as SM3 digests, so the audit trail says who acted.

A token is 256 random bits made here, so one SM3 digest suffices to keep it (no slow password hash is
needed: nothing can be guessed); the token itself is shown once, when made.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import AdminOperator
from baohan.gm.sm3 import sm3_hex

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


def digest(token: str) -> str:
    """How a token is kept: its SM3 digest, hex."""
    return sm3_hex(token.encode())


@dataclass(frozen=True)
class Operator:
    """An operator as listed: the name and when the token was made (never the token)."""

    name: str
    created_at: datetime


class Operators:
    """Who may use the admin API: operators in the database, and any fixed ``name → token`` given at start."""

    def __init__(self, sessions: sessionmaker[Session], fixed: Mapping[str, str] | None = None) -> None:
        for name, token in (fixed or {}).items():
            if not token.strip():
                raise ValueError(f"the admin token of {name!r} is empty")
        self._sessions = sessions
        self._fixed = {digest(token): name for name, token in (fixed or {}).items()}

    def identify(self, token: str) -> str | None:
        """The name of the operator whose token this is; None for an empty or unknown token."""
        if not token:
            return None
        wanted = digest(token)
        fixed = next(
            (name for known, name in self._fixed.items() if secrets.compare_digest(known, wanted)), None
        )
        if fixed is not None:
            return fixed
        with self._sessions() as session:
            return session.scalar(select(AdminOperator.name).where(AdminOperator.token_digest == wanted))

    def add(self, name: str) -> str:
        """Make ``name`` an operator; returns the new token (shown once, kept only as its digest)."""
        if not NAME.fullmatch(name):
            raise ValueError(f"operator name {name!r}: letters, digits and . _ @ - only, at most 100")
        token = secrets.token_urlsafe(32)
        try:
            with transaction(self._sessions) as session:
                session.add(AdminOperator(name=name, token_digest=digest(token)))
        except IntegrityError:
            raise ValueError(
                f"operator {name!r} exists already (revoke it first to give a new token)"
            ) from None
        return token

    def revoke(self, name: str) -> None:
        """Take ``name``'s token away; its past actions stay in the audit trail under its name."""
        with transaction(self._sessions) as session:
            row = session.get(AdminOperator, name)
            if row is None:
                raise LookupError(f"no operator {name!r}")
            session.delete(row)

    def listing(self) -> list[Operator]:
        """Every operator, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(AdminOperator).order_by(AdminOperator.created_at, AdminOperator.name)
            )
            return [Operator(row.name, row.created_at) for row in rows]
