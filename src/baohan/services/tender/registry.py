"""Tender's registry: the tender protocol's counterparties, named by their appkey, each with its channel.

Spec 004 names a counterparty by ``appkey`` alone, so the stored appid is the appkey (kept equal when the
appkey rotates); the platform's ``platformcode`` is a setting of the counterparty's profile.
"""

from __future__ import annotations

from typing import Any

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PublicKey
from baohan.protocols.tender.endpoint import TenderChannel
from baohan.protocols.tender.profile import TenderProfile
from baohan.services import registry as generic
from baohan.services.registry import Credentials, Identity, SessionFactory
from baohan.services.switches import Switches

PROTOCOL = "tender"
APPKEY_MAX = 50  # spec 004: appkey string(50)
APPSECRET_MIN, APPSECRET_MAX = 8, 128  # what operators may register (the admin API and the CLI)
Peer = generic.Peer[TenderChannel]

__all__ = [
    "APPKEY_MAX",
    "APPSECRET_MAX",
    "APPSECRET_MIN",
    "PROTOCOL",
    "Identity",
    "Peer",
    "Registry",
    "SessionFactory",
    "channel",
    "check_appsecret",
    "profile_settings",
]


def channel(credentials: Credentials) -> TenderChannel:
    """The channel of a tender counterparty; its stored profile is validated here."""
    return TenderChannel(
        appkey=credentials.appkey,
        appsecret=credentials.appsecret,
        own_key=credentials.own_key,
        peer_key=credentials.peer_key,
        profile=TenderProfile.from_dict(credentials.profile),
    )


def check_appsecret(appsecret: str) -> str:
    """``appsecret`` if it is fit to register (8 to 128 characters, no NUL); ValueError naming it."""
    if not APPSECRET_MIN <= len(appsecret) <= APPSECRET_MAX or "\0" in appsecret:
        raise ValueError(f"appsecret: {APPSECRET_MIN} to {APPSECRET_MAX} characters (no NUL)")
    return appsecret


def profile_settings(profile: Any) -> dict[str, Any]:
    """A tender wire profile (a TenderProfile, stored JSON or None for the defaults), checked, as JSON."""
    settings = profile if isinstance(profile, TenderProfile) else TenderProfile.from_dict(profile)
    return settings.to_dict()


class Registry(generic.Registry[TenderChannel]):
    """The tender protocol's counterparties (see :class:`baohan.services.registry.Registry`)."""

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
            identifier_max={"appid": APPKEY_MAX, "appkey": APPKEY_MAX},
            appid_is_appkey=True,
        )

    def add(
        self,
        *,
        name: str,
        role: str,
        appkey: str,
        appsecret: str,
        public_key: SM2PublicKey,
        endpoint_url: str | None = None,
        own_key_name: str = "default",
        profile: Any = None,
        counterparty_id: str | None = None,
    ) -> Peer:
        """Register a tender counterparty under its ``appkey`` (see ``add_counterparty``)."""
        return self.add_counterparty(
            name=name,
            role=role,
            appid=appkey,
            appkey=appkey,
            appsecret=appsecret,
            public_key=public_key,
            endpoint_url=endpoint_url,
            own_key_name=own_key_name,
            profile=profile,
            counterparty_id=counterparty_id,
        )

    def peer_by_appkey(self, appkey: str) -> Peer | None:
        """The active counterparty registered under ``appkey``, or None."""
        return self.peer_by_appid(appkey)
