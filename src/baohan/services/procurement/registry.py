"""Procurement's registry: the procurement protocol's counterparties, each with its envelope channel."""

from __future__ import annotations

from typing import Any

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PublicKey
from baohan.protocols.procurement.envelope import Channel
from baohan.protocols.profile import Profile
from baohan.services import registry as generic
from baohan.services.registry import Credentials, Identity, SessionFactory, reseal_all
from baohan.services.switches import Switches

PROTOCOL = "procurement"
Peer = generic.Peer[Channel]

__all__ = ["PROTOCOL", "Identity", "Peer", "Registry", "SessionFactory", "channel", "reseal_all"]


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
            switches=switches,
            counterparty_role=counterparty_role,
        )

    def add_counterparty(
        self,
        *,
        name: str,
        role: str,
        appid: str,
        appkey: str,
        appsecret: str,
        public_key: SM2PublicKey,
        endpoint_url: str | None = None,
        own_key_name: str = "default",
        profile: Profile | dict[str, Any] | None = None,
        per_transcode_paths: bool = False,
        counterparty_id: str | None = None,
    ) -> Peer:
        """Register a procurement counterparty with its wire profile (checked before anything is stored)."""
        settings = profile if isinstance(profile, Profile) else Profile.from_dict(profile)
        return super().add_counterparty(
            name=name,
            role=role,
            appid=appid,
            appkey=appkey,
            appsecret=appsecret,
            public_key=public_key,
            endpoint_url=endpoint_url,
            own_key_name=own_key_name,
            profile=settings.to_dict(),
            per_transcode_paths=per_transcode_paths,
            counterparty_id=counterparty_id,
        )
