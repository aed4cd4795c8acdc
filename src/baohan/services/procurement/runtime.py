"""Wiring one role together: database, key store, registry, files, service, outbox dispatcher, courier."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters import outbox
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.adapters.db.migrate import upgrade
from baohan.adapters.files import DatabaseFileStore, DirectoryFileStore, FileStore
from baohan.adapters.keystore import SecretBox
from baohan.domain.underwriting import Product, Rules
from baohan.services.delivery import Courier
from baohan.services.idempotency import DEFAULT_RETENTION, Replays, purge_expired
from baohan.services.procurement.delivery import issuer_handlers, platform_handlers
from baohan.services.procurement.issuer import IssuerService, IssuerSettings
from baohan.services.procurement.platform import PlatformService
from baohan.services.procurement.registry import Registry, reseal_all

DEFAULT_RULES = Rules(
    products={
        "PERF": Product(
            code="PERF",
            name="政府采购履约保函",
            rate=Decimal("0.005"),
            minimum_premium=Decimal("200.00"),
            max_amount=Decimal("50000000.00"),
            max_term_months=60,
            auto_approve_up_to=Decimal("5000000.00"),
        ),
    },
    default_product="PERF",
)


@dataclass
class RoleRuntime:
    """One running role: its service, and the dispatcher thread that delivers its outbox."""

    role: str
    engine: Engine
    sessions: sessionmaker[Session]
    registry: Registry
    service: IssuerService | PlatformService
    dispatcher: outbox.Dispatcher
    courier: Courier
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, idle_sleep: float = 0.2) -> None:
        """Deliver the outbox in a background thread until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.dispatcher.run_forever,
                args=(self._stop, idle_sleep),
                name=f"outbox-{self.role}",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the dispatcher thread (a delivery in flight finishes) and release connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.courier.close()
        if isinstance(self.service, IssuerService):
            self.service.close()
        self.engine.dispose()

    def pending(self) -> int:
        """Outbox messages not yet delivered (pending or in delivery)."""
        from sqlalchemy import func, select

        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(outbox.OutboxMessage)
                    .where(
                        outbox.OutboxMessage.status.in_(
                            [outbox.OutboxStatus.PENDING, outbox.OutboxStatus.DELIVERING]
                        )
                    )
                )
                or 0
            )

    def dead_letters(self) -> list[outbox.OutboxMessage]:
        """Messages that kept failing past their deadline."""
        with self.sessions() as session:
            return outbox.dead_letters(session)

    def retry_dead(self, message_id: str) -> None:
        """Put a dead letter back in the queue."""
        with transaction(self.sessions) as session:
            outbox.retry_dead(session, message_id)


def open_runtime(
    role: str,
    db_url: str,
    box: SecretBox,
    *,
    institution_name: str = "baohan 示范担保有限公司",
    rules: Rules = DEFAULT_RULES,
    files_dir: Path | None = None,
    migrate: bool = True,
    policy: outbox.RetryPolicy | None = None,
    lease: timedelta = timedelta(minutes=2),
    timeout: float = 15.0,
    delivery_concurrency: int = 16,
    replay_retention: timedelta = DEFAULT_RETENTION,
) -> RoleRuntime:
    """Open (and migrate) the database at ``db_url`` and wire the ``issuer`` or ``platform`` role on it."""
    if role not in ("issuer", "platform"):
        raise ValueError(f"role must be issuer or platform, not {role!r}")
    if migrate:
        upgrade(db_url)
    engine = make_engine(db_url, background_checkpoints=True)
    sessions = make_session_factory(engine)
    box = reseal_all(sessions, box)  # this database's KEK; a wrong passphrase shows here
    registry = Registry(sessions, box)
    files: FileStore = DirectoryFileStore(files_dir) if files_dir is not None else DatabaseFileStore()
    service: IssuerService | PlatformService
    # One kept-alive pool for every delivery thread: notices to one counterparty reuse its connections.
    http = httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=4 * delivery_concurrency, max_keepalive_connections=delivery_concurrency
        ),
    )
    courier = Courier()
    courier.on_close(http.close)
    replays = Replays(files, replay_retention)
    if role == "issuer":
        service = IssuerService(
            sessions, registry, files, IssuerSettings(institution_name, rules), replays=replays
        )
        courier.register_all(issuer_handlers(registry, http))
    else:
        service = PlatformService(sessions, registry, files, replays=replays)
        courier.register_all(platform_handlers(registry, http, service))

    def purge(now: datetime) -> None:
        with transaction(sessions) as session:
            purge_expired(session, now)

    dispatcher = outbox.Dispatcher(
        sessions,
        courier,
        policy=policy or outbox.RetryPolicy(),
        lease=lease,
        concurrency=delivery_concurrency,
        chores=[purge],
    )
    return RoleRuntime(role, engine, sessions, registry, service, dispatcher, courier)
