"""Procurement's registry: the procurement protocol's counterparties, each with its envelope channel."""

from __future__ import annotations

from typing import Any

from baohan.adapters.keystore import SecretBox
from baohan.protocols.procurement.envelope import Channel
from baohan.protocols.procurement.tables import SPEC_LIMITS
from baohan.protocols.profile import Profile
from baohan.services import registry as generic
from baohan.services.registry import Credentials, Identity, SessionFactory
from baohan.services.switches import Switches

PROTOCOL = "procurement"
APPID_MAX = 32
Peer = generic.Peer[Channel]

__all__ = ["PROTOCOL", "Identity", "Peer", "Registry", "SessionFactory", "channel", "profile_settings"]


def channel(credentials: Credentials) -> Channel:
    """The envelope channel of a procurement counterparty; its stored profile is validated here."""
    return Channel(
        appid=credentials.appid,
        appkey=credentials.appkey,
        appsecret=credentials.appsecret,
        own_key=credentials.own_key,
        peer_key=credentials.peer_key,
        profile=Profile.from_dict(credentials.profile),
    )


def profile_settings(profile: Any) -> dict[str, Any]:
    """A procurement wire profile (a Profile, stored JSON or None for the defaults), checked, as JSON."""
    settings = profile if isinstance(profile, Profile) else Profile.from_dict(profile)
    for key in settings.limits:
        table, _, field = key.rpartition(".")
        if field not in SPEC_LIMITS.get(table, {}):
            raise ValueError(f"profile.limits: {key} is not a text field of a spec 000 table")
    return settings.to_dict()


class Registry(generic.Registry[Channel]):
    """The procurement protocol's counterparties (see :class:`baohan.services.registry.Registry`)."""

    def __init__(
        self,
        sessions: SessionFactory,
        box: SecretBox,
        switches: Switches | None = None,
        *,
        counterparty_role: str | None = None,
    ) -> None:
        super().__init__(
            sessions,
            box,
            protocol=PROTOCOL,
            channel=channel,
            profile=profile_settings,
            switches=switches,
            counterparty_role=counterparty_role,
            identifier_max={"appid": APPID_MAX},  # §9.2.1: a longer one our own receiver would refuse
        )
