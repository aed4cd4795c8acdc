"""Whether a runtime can do its work now: the database answers, our keys open, and how the outbox stands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from baohan.adapters import outbox
from baohan.adapters.db.tables import OwnKey
from baohan.adapters.keystore import KeyStoreError
from baohan.adapters.logs import mask
from baohan.services.registry import key_context
from baohan.services.runtime import Runtime


@dataclass(frozen=True)
class Readiness:
    """The answer of one readiness check; ``database`` and ``keys`` are "ok" or what is wrong, in one line."""

    database: str
    keys: str
    backlog: outbox.Backlog | None

    @property
    def ready(self) -> bool:
        """Both the database and the keys are ok (a backlog alone does not make a server unready)."""
        return self.database == "ok" and self.keys == "ok"

    def view(self) -> dict[str, Any]:
        """As JSON for operators."""
        shown: dict[str, Any] = {"ready": self.ready, "database": self.database, "keys": self.keys}
        if self.backlog is not None:
            shown["outbox"] = {
                "pending": self.backlog.pending,
                "dead": self.backlog.dead,
                "oldest_pending_age_seconds": round(self.backlog.oldest_due_age, 3),
            }
        return shown


def check(runtime: Runtime) -> Readiness:
    """Query the database (the outbox backlog and our sealed keys) and open every key with the runtime's box."""
    try:
        with runtime.sessions() as session:
            backlog = outbox.backlog(session)
            sealed = session.execute(select(OwnKey.name, OwnKey.private_key_sealed)).all()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return Readiness(f"unreachable: {type(exc).__name__}: {mask(first)}", "unknown", None)
    if not sealed:
        return Readiness("ok", "no key stored yet (set an identity)", backlog)
    for name, token in sealed:
        try:
            runtime.ground.box.open(token, context=key_context(name))
        except KeyStoreError:
            return Readiness("ok", f"key {name!r} does not open with this passphrase", backlog)
    return Readiness("ok", "ok", backlog)
