"""Procurement's roles on the shared runtime: a builder per role, and ``open_runtime`` for one role alone.

The builders are what a process hosting several protocol roles hands to
:func:`baohan.services.runtime.open_runtime`; :class:`RoleRuntime` is the common case of one procurement
role on its own database (the CLI, the sandbox, the demo, the tests).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from baohan.adapters import outbox
from baohan.adapters.keystore import SecretBox
from baohan.domain.underwriting import Product, Rules
from baohan.services import runtime as shared
from baohan.services.idempotency import DEFAULT_RETENTION
from baohan.services.procurement.delivery import issuer_handlers, platform_handlers
from baohan.services.procurement.issuer import IssuerService, IssuerSettings, institution_name
from baohan.services.procurement.platform import PlatformService
from baohan.services.procurement.registry import PROTOCOL, Registry

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


def build_issuer(ground: shared.Ground, settings: IssuerSettings) -> shared.HostedRole:
    """The issuer (出函机构) of the procurement protocol, on ``ground``: it talks to platforms."""
    registry = Registry(ground.sessions, ground.box, ground.switches, counterparty_role="platform")
    if settings.institution_name is not None:  # a name that our certificate does not give stops us here
        try:
            identity = registry.identity(settings.identity)
        except KeyError:
            identity = None  # none yet: the name is checked when the first letter is issued
        if identity is not None:
            institution_name(identity, settings.institution_name)
    service = IssuerService(ground.sessions, registry, ground.files, settings, replays=ground.replays)
    return shared.HostedRole(
        PROTOCOL, "issuer", service, registry, issuer_handlers(registry, ground.http), service.close
    )


def build_platform(ground: shared.Ground, settings: None = None) -> shared.HostedRole:
    """The platform of the procurement protocol, on ``ground``: it talks to institutions."""
    registry = Registry(ground.sessions, ground.box, ground.switches, counterparty_role="institution")
    service = PlatformService(ground.sessions, registry, ground.files, replays=ground.replays)
    return shared.HostedRole(
        PROTOCOL, "platform", service, registry, platform_handlers(registry, ground.http, service)
    )


class RoleRuntime(shared.RoleRuntime):
    """One procurement role hosted alone on its database: the runtime and that role."""

    @property
    def service(self) -> IssuerService | PlatformService:
        """The role's use cases."""
        service: IssuerService | PlatformService = self.hosted.service
        return service

    @property
    def registry(self) -> Registry:
        """The role's counterparties and our identities."""
        registry = self.hosted.registry
        assert isinstance(registry, Registry)
        return registry


def open_runtime(
    role: str,
    db_url: str,
    box: SecretBox,
    *,
    institution_name: str | None = None,
    rules: Rules = DEFAULT_RULES,
    files_dir: Path | None = None,
    migrate: bool = True,
    policy: outbox.RetryPolicy | None = None,
    lease: timedelta = timedelta(minutes=2),
    timeout: float = 15.0,
    delivery_concurrency: int = 32,
    replay_retention: timedelta = DEFAULT_RETENTION,
) -> RoleRuntime:
    """Open (and migrate) the database at ``db_url`` and host the procurement ``issuer`` or ``platform`` on it."""
    builders: dict[str, tuple[shared.RoleBuilder, object]] = {
        "issuer": (build_issuer, IssuerSettings(institution_name, rules)),
        "platform": (build_platform, None),
    }
    if role not in builders:
        raise ValueError(f"role must be issuer or platform, not {role!r}")
    settings = shared.RuntimeSettings(
        files_dir=files_dir,
        migrate=migrate,
        policy=policy or outbox.RetryPolicy(),
        lease=lease,
        timeout=timeout,
        delivery_concurrency=delivery_concurrency,
        replay_retention=replay_retention,
    )
    runtime = shared.open_runtime(db_url, box, [builders[role]], settings)
    return RoleRuntime(runtime, runtime.role(PROTOCOL, role))
