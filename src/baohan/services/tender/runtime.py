"""Tender's issuer on the shared runtime: its builder, and :func:`open_issuer` for the issuer alone.

:func:`build_issuer` is what a process hosting several protocol roles hands to
:func:`baohan.services.runtime.open_runtime` (the platform's builder is in
:mod:`baohan.services.tender.platform_runtime`). It wires the issuer's handlers by interface, the bidder
desk, the outbox kinds it sends (``tender.<interface>`` for every platform interface, and the file upload
job) and the answers it acts on (a completion accepted or refused, a platform key that changed).
"""

from __future__ import annotations

from dataclasses import dataclass

from baohan.adapters.keystore import SecretBox
from baohan.protocols.tender.tables import PLATFORM_SERVES
from baohan.services import runtime as shared
from baohan.services.delivery import Handler
from baohan.services.tender.aftercare import AFTERCARE_HANDLERS, aftercare_hooks, aftercare_jobs
from baohan.services.tender.file_upload import COMPLETION, FileUpload, PlatformKeys
from baohan.services.tender.issuer import ISSUER_HANDLERS, IssuerService, IssuerSettings, notice_fields
from baohan.services.tender.issuing import FILE_UPLOAD, GuaranteeMaker
from baohan.services.tender.registry import PROTOCOL, Registry
from baohan.services.tender.roles import Context
from baohan.services.tender.seals import Seals
from baohan.services.tender.sender import TenderSender
from baohan.services.tender.store import Applications

ISSUER_SENDS = tuple(sorted(PLATFORM_SERVES))  # the issuer calls every interface the platform serves


def issuer_context(ground: shared.Ground, settings: IssuerSettings) -> Context:
    """What the issuer's handlers and use cases share, on ``ground``."""
    registry = Registry(ground.sessions, ground.box, ground.switches, counterparty_role="platform")
    return Context(
        sessions=ground.sessions,
        registry=registry,
        store=Applications("issuer", ground.box),
        files=ground.files,
        box=ground.box,
        replays=ground.replays,
        switches=ground.switches,
        settings=settings,
    )


def build_issuer(ground: shared.Ground, settings: IssuerSettings) -> shared.HostedRole:
    """The issuer (出函机构) of the tender protocol, on ``ground``: it talks to platforms."""
    ctx = issuer_context(ground, settings)
    maker = GuaranteeMaker(
        ctx,
        Seals(settings.seal),
        identity=settings.identity,
        institution=settings.institution_name,
        validity=settings.validity,
    )
    service = IssuerService(ctx, {**ISSUER_HANDLERS, **AFTERCARE_HANDLERS}, maker)
    sender = TenderSender(ctx.registry, ground.http)
    keys = PlatformKeys(ctx.registry, sender, ttl=settings.public_key_ttl, clock=ctx.clock)
    upload = FileUpload(ctx, sender, keys, maker, notice_fields)
    sender.on_answer(COMPLETION, upload.completed)
    for interface, hook in aftercare_hooks(ctx).items():
        sender.on_answer(interface, hook)
    handlers: dict[str, Handler] = {
        **sender.kinds(ISSUER_SENDS),
        FILE_UPLOAD: upload,
        **aftercare_jobs(ctx, ground.http),
    }
    return shared.HostedRole(PROTOCOL, "issuer", service, ctx.registry, handlers)


@dataclass
class TenderRuntime(shared.RoleRuntime):
    """One tender role hosted alone on its database."""

    @property
    def context(self) -> Context:
        """What the role's handlers and use cases share."""
        context: Context = self.hosted.service.context
        return context

    @property
    def registry(self) -> Registry:
        """The role's counterparties and our identities."""
        registry = self.hosted.registry
        assert isinstance(registry, Registry)
        return registry


@dataclass
class IssuerRuntime(TenderRuntime):
    """The tender issuer hosted alone."""

    @property
    def service(self) -> IssuerService:
        """The issuer's Endpoint, bidder desk and use cases."""
        service = self.hosted.service
        assert isinstance(service, IssuerService)
        return service


def open_issuer(
    db_url: str,
    box: SecretBox,
    settings: IssuerSettings,
    ground: shared.RuntimeSettings | None = None,
) -> IssuerRuntime:
    """Open (and migrate, unless ``ground`` says not to) the database at ``db_url`` and host the tender
    issuer alone on it."""
    runtime = shared.open_runtime(db_url, box, [(build_issuer, settings)], ground)
    return IssuerRuntime(runtime, runtime.role(PROTOCOL, "issuer"))
