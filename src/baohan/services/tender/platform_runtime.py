"""The tender platform on the shared runtime: :func:`build_platform` wires it on the ground;
:func:`open_platform` hosts it alone on its database (the CLI, the sandbox, the tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from baohan.adapters.db.engine import utcnow
from baohan.adapters.keystore import SecretBox
from baohan.adapters.uploads import Uploads
from baohan.gm import SM2Certificate
from baohan.protocols.tender.tables import ISSUER_SERVES
from baohan.services import runtime as shared
from baohan.services.tender.files import GuaranteeFiles
from baohan.services.tender.platform import TenderPlatform
from baohan.services.tender.reception import Reception
from baohan.services.tender.registry import PROTOCOL, Registry
from baohan.services.tender.requests import Requests
from baohan.services.tender.roles import Context
from baohan.services.tender.runtime import TenderRuntime
from baohan.services.tender.sections import BidSections
from baohan.services.tender.sender import TenderSender
from baohan.services.tender.store import Applications


@dataclass(frozen=True)
class PlatformSettings:
    """The tender platform's settings: the CAs the institutions' seals must chain to (None: any seal that
    verifies), and the clock (tests move it)."""

    trusted_seal_cas: Sequence[SM2Certificate] | None = None
    clock: Callable[[], datetime] = utcnow


def build_platform(ground: shared.Ground, settings: PlatformSettings | None = None) -> shared.HostedRole:
    """The platform (交易平台) of the tender protocol, on ``ground``: it talks to institutions."""
    settings = settings or PlatformSettings()
    registry = Registry(ground.sessions, ground.box, ground.switches, counterparty_role="institution")
    store = Applications("platform", ground.box)
    context = Context(
        sessions=ground.sessions,
        registry=registry,
        store=store,
        files=ground.files,
        box=ground.box,
        replays=ground.replays,
        switches=ground.switches,
        settings=settings,
        clock=settings.clock,
    )
    reception = Reception(
        GuaranteeFiles(ground.box), Uploads(ground.files), ground.files, trusted=settings.trusted_seal_cas
    )
    platform = TenderPlatform(context, BidSections(ground.box), reception, Requests(store))
    # A restore refused (the institution's clock behind ours at the opening, say) is tried again.
    sender = TenderSender(
        registry,
        ground.http,
        on_answer=platform.answer_hooks(),
        retry_refusals=("baohanrestore",),
        clock=settings.clock,
    )
    return shared.HostedRole(PROTOCOL, "platform", platform, registry, sender.kinds(ISSUER_SERVES))


@dataclass
class PlatformRuntime(TenderRuntime):
    """The tender platform hosted alone."""

    @property
    def service(self) -> TenderPlatform:
        """The platform's Endpoint and use cases."""
        service = self.hosted.service
        assert isinstance(service, TenderPlatform)
        return service


def open_platform(
    db_url: str,
    box: SecretBox,
    settings: PlatformSettings | None = None,
    ground: shared.RuntimeSettings | None = None,
) -> PlatformRuntime:
    """Open (and migrate, unless ``ground`` says not to) the database at ``db_url`` and host the tender
    platform alone on it."""
    runtime = shared.open_runtime(db_url, box, [(build_platform, settings or PlatformSettings())], ground)
    return PlatformRuntime(runtime, runtime.role(PROTOCOL, "platform"))
