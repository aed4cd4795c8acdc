"""One runtime per process and database, protocol-neutral: the shared ground and the roles hosted on it.

The ground is what every protocol role shares: the engine, the key store bound to this database, the
operator switches, the file store, the idempotency records, one kept-alive HTTP pool, one courier and
one outbox dispatcher. A protocol plugs in a role by handing a :data:`RoleBuilder` (and its settings) to
:func:`open_runtime`; the builder wires the role's service and registry on the ground and names the
delivery handlers of the outbox kinds it sends. The runtime knows no protocol by name, so an institution
that connects to both kinds of platform runs its procurement and tender roles in one process, on one
database, with one dispatcher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters import outbox
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.adapters.db.migrate import upgrade
from baohan.adapters.files import DatabaseFileStore, DirectoryFileStore, FileStore
from baohan.adapters.keystore import SecretBox
from baohan.services.delivery import Courier, Handler
from baohan.services.idempotency import DEFAULT_RETENTION, Replays, purge_expired
from baohan.services.registry import Registry, reseal_all
from baohan.services.switches import Switches


@dataclass(frozen=True)
class RuntimeSettings:
    """What the ground is made of, the same for every hosted role."""

    files_dir: Path | None = None  # keep files in this directory instead of the database
    migrate: bool = True
    policy: outbox.RetryPolicy = field(default_factory=outbox.RetryPolicy)
    lease: timedelta = timedelta(minutes=2)
    timeout: float = 15.0  # seconds an outbound call may take
    delivery_concurrency: int = 32
    replay_retention: timedelta = DEFAULT_RETENTION
    delivered_retention: timedelta = timedelta(days=30)  # delivered notices are then purged


@dataclass(frozen=True)
class Ground:
    """What the runtime shares with every role it hosts."""

    engine: Engine
    sessions: sessionmaker[Session]
    box: SecretBox
    switches: Switches
    files: FileStore
    replays: Replays
    http: httpx.Client


@dataclass
class HostedRole:
    """One protocol role wired on the ground: its service, its registry and the outbox kinds it sends."""

    protocol: str
    role: str
    service: Any
    registry: Registry[Any]
    handlers: Mapping[str, Handler]
    close: Callable[[], None] = lambda: None


RoleBuilder = Callable[[Ground, Any], HostedRole]


@dataclass
class Runtime:
    """The ground, its dispatcher and the hosted roles; :meth:`start` delivers the outbox in a thread."""

    ground: Ground
    dispatcher: outbox.Dispatcher
    courier: Courier
    roles: dict[tuple[str, str], HostedRole]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def engine(self) -> Engine:
        """The database engine."""
        return self.ground.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the database."""
        return self.ground.sessions

    def role(self, protocol: str, role: str) -> HostedRole:
        """The hosted ``role`` of ``protocol``; KeyError naming what is hosted otherwise."""
        try:
            return self.roles[(protocol, role)]
        except KeyError:
            hosted = ", ".join(f"{p}:{r}" for p, r in self.roles) or "nothing"
            raise KeyError(f"{protocol}:{role} is not hosted here (hosted: {hosted})") from None

    def start(self, idle_sleep: float = 0.2) -> None:
        """Deliver the outbox in a background thread until :meth:`stop`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self.dispatcher.run_forever, args=(self._stop, idle_sleep), name="outbox", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the dispatcher (deliveries in flight finish), close the roles, release connections."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        for hosted in self.roles.values():
            hosted.close()
        self.courier.close()
        self.ground.engine.dispose()

    def pending(self) -> int:
        """Outbox messages not yet delivered (pending or in delivery)."""
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

    def backlog(self) -> outbox.Backlog:
        """The outbox's backlog: undelivered and dead messages, and the age of the oldest due one."""
        with self.sessions() as session:
            return outbox.backlog(session)

    def retry_dead(self, message_id: str) -> None:
        """Put a dead letter back in the queue."""
        with transaction(self.sessions) as session:
            outbox.retry_dead(session, message_id)


@dataclass
class RoleRuntime:
    """One protocol role hosted alone on its database (the CLI, the sandbox, the demo, the tests): the
    runtime and that role. Protocols subclass it to type their role's service and registry."""

    runtime: Runtime
    hosted: HostedRole

    @property
    def role(self) -> str:
        """The hosted role's name (``issuer``, ``platform``)."""
        return self.hosted.role

    @property
    def engine(self) -> Engine:
        """The database engine."""
        return self.runtime.engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        """Sessions on the database."""
        return self.runtime.sessions

    @property
    def dispatcher(self) -> outbox.Dispatcher:
        """The outbox dispatcher."""
        return self.runtime.dispatcher

    @property
    def courier(self) -> Courier:
        """Delivers one outbox message (the dispatcher's ``deliver``)."""
        return self.runtime.courier

    def start(self, idle_sleep: float = 0.2) -> None:
        """Deliver the outbox in a background thread until :meth:`stop`."""
        self.runtime.start(idle_sleep)

    def stop(self) -> None:
        """Stop delivering and release everything."""
        self.runtime.stop()

    def pending(self) -> int:
        """Outbox messages not yet delivered."""
        return self.runtime.pending()

    def retry_dead(self, message_id: str) -> None:
        """Put a dead letter back in the queue."""
        self.runtime.retry_dead(message_id)


def open_runtime(
    db_url: str,
    box: SecretBox,
    roles: Sequence[tuple[RoleBuilder, Any]],
    settings: RuntimeSettings | None = None,
) -> Runtime:
    """Open (and migrate) the database at ``db_url``, lay the ground and host ``roles`` on it.

    Each role is a builder and its settings; two roles may not send the same outbox kind.
    """
    settings = settings or RuntimeSettings()
    if not roles:
        raise ValueError("a runtime hosts at least one protocol role")
    if settings.migrate:
        upgrade(db_url)
    engine = make_engine(db_url, background_checkpoints=True)
    sessions = make_session_factory(engine)
    box = reseal_all(sessions, box)  # this database's KEK; a wrong passphrase shows here
    files: FileStore = (
        DirectoryFileStore(settings.files_dir) if settings.files_dir is not None else DatabaseFileStore()
    )
    # One kept-alive pool for every delivery thread: notices to one counterparty reuse its connections.
    concurrency = settings.delivery_concurrency
    http = httpx.Client(
        timeout=settings.timeout,
        limits=httpx.Limits(max_connections=4 * concurrency, max_keepalive_connections=concurrency),
    )
    ground = Ground(
        engine, sessions, box, Switches(sessions), files, Replays(files, settings.replay_retention), http
    )
    courier = Courier(files=files, sessions=sessions)
    courier.on_close(http.close)
    hosted: dict[tuple[str, str], HostedRole] = {}
    try:
        for build, role_settings in roles:
            role = build(ground, role_settings)
            if (role.protocol, role.role) in hosted:
                role.close()
                raise ValueError(f"{role.protocol}:{role.role} is hosted twice")
            hosted[(role.protocol, role.role)] = role
            courier.register_all(role.handlers)
    except BaseException:
        for role in hosted.values():
            role.close()
        courier.close()
        engine.dispose()
        raise

    def purge(now: datetime) -> None:
        with transaction(sessions) as session:
            purge_expired(session, now)
            outbox.purge_delivered(session, older_than=now - settings.delivered_retention)

    dispatcher = outbox.Dispatcher(
        sessions,
        courier,
        policy=settings.policy,
        lease=settings.lease,
        concurrency=concurrency,
        chores=[purge],
        kinds=courier.kinds(),
    )
    return Runtime(ground, dispatcher, courier, hosted)
