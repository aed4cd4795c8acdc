"""The tender platform on the shared runtime: :func:`build_platform` wires it on the ground."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from baohan.adapters.db.engine import utcnow
from baohan.adapters.uploads import Uploads
from baohan.protocols.tender.tables import ISSUER_SERVES
from baohan.services import runtime as shared
from baohan.services.tender.files import GuaranteeFiles
from baohan.services.tender.platform import TenderPlatform
from baohan.services.tender.reception import Reception
from baohan.services.tender.registry import PROTOCOL, Registry
from baohan.services.tender.requests import Requests
from baohan.services.tender.roles import Context
from baohan.services.tender.sections import BidSections
from baohan.services.tender.sender import TenderSender
from baohan.services.tender.store import Applications


@dataclass(frozen=True)
class PlatformSettings:
    """The tender platform's settings: the clock (tests move it)."""

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
    reception = Reception(GuaranteeFiles(ground.box), Uploads(ground.files), ground.files)
    platform = TenderPlatform(context, BidSections(ground.box), reception, Requests(store))
    sender = TenderSender(registry, ground.http, on_answer=platform.answer_hooks(), clock=settings.clock)
    return shared.HostedRole(PROTOCOL, "platform", platform, registry, sender.kinds(ISSUER_SERVES))
