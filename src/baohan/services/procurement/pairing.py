"""Two procurement roles made known to each other, the one way the sandbox, the demo, the benchmarks and
the tests all do it: fresh SM2 keys, a test CA that certifies the issuer, the platform-issued credentials
registered on both sides.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.procurement.envelope import Channel
from baohan.protocols.profile import Profile
from baohan.services.procurement.registry import Registry


@dataclass(frozen=True)
class AppCredentials:
    """What a platform issues an institution: ``appid``, ``appkey`` and ``appsecret``."""

    appid: str
    appkey: str
    appsecret: str

    @classmethod
    def fresh(cls, prefix: str = "SBX") -> AppCredentials:
        """Random credentials, the appid starting with ``prefix``."""
        return cls(f"{prefix}{secrets.token_hex(4).upper()}", secrets.token_hex(8), secrets.token_hex(16))

    def __repr__(self) -> str:
        return f"AppCredentials(appid={self.appid!r})"


@dataclass(frozen=True)
class IssuerIdentity:
    """An issuer's key with the certificate a fresh test CA gave it."""

    key: SM2PrivateKey
    certificate: SM2Certificate
    ca: SM2Certificate

    def __repr__(self) -> str:  # the private key never reaches a log line
        return f"IssuerIdentity(public={self.key.public_key.to_hex()[:18]}…)"


def certify_issuer(registry: Registry, institution: str, ca_name: str = "baohan Test CA") -> IssuerIdentity:
    """A fresh key for ``institution``, certified by a fresh CA, stored as the registry's default identity."""
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca(f"CN={ca_name},O=baohan,C=CN", ca_key)
    certificate = issue_certificate(ca, ca_key, f"CN={institution},O={institution},C=CN", key.public_key)
    registry.add_identity("default", key, certificate, ca)
    return IssuerIdentity(key, certificate, ca)


@dataclass(frozen=True)
class IssuerSide:
    """An issuer made known to one platform: its certified key, the platform's key and the credentials."""

    issuer: IssuerIdentity
    platform_key: SM2PrivateKey
    platform_id: str  # the platform, as the issuer knows it
    credentials: AppCredentials
    profile: Profile

    def platform_channel(self) -> Channel:
        """The channel the platform talks to the issuer on."""
        c = self.credentials
        return Channel(
            c.appid, c.appkey, c.appsecret, self.platform_key, self.issuer.key.public_key, self.profile
        )

    def issuer_channel(self) -> Channel:
        """The channel the issuer talks to the platform on."""
        c = self.credentials
        return Channel(
            c.appid, c.appkey, c.appsecret, self.issuer.key, self.platform_key.public_key, self.profile
        )


def issuer_side(
    issuer: Registry,
    *,
    platform_url: str,
    credentials: AppCredentials,
    institution: str = "示范担保有限公司",
    platform_name: str = "示范政府采购金融服务平台",
    ca_name: str = "baohan Test CA",
    profile: Profile | None = None,
) -> IssuerSide:
    """Certify the issuer's key and register a platform with a fresh key, reachable at ``platform_url``."""
    identity = certify_issuer(issuer, institution, ca_name)
    platform_key = SM2PrivateKey.generate()
    settings = profile or Profile()
    known_platform = issuer.add_counterparty(
        name=platform_name,
        role="platform",
        appid=credentials.appid,
        appkey=credentials.appkey,
        appsecret=credentials.appsecret,
        public_key=platform_key.public_key,
        endpoint_url=platform_url,
        profile=settings,
    )
    return IssuerSide(identity, platform_key, known_platform.id, credentials, settings)


@dataclass(frozen=True)
class Pairing(IssuerSide):
    """Both roles ours: the issuer side, and the issuer as the platform knows it."""

    institution_id: str = ""


def pair(
    issuer: Registry,
    platform: Registry,
    *,
    issuer_url: str,
    platform_url: str,
    credentials: AppCredentials,
    institution: str = "示范担保有限公司",
    platform_name: str = "示范政府采购金融服务平台",
    ca_name: str = "baohan Test CA",
) -> Pairing:
    """Register an issuer and a platform with each other, each reachable at its ELYApi URL."""
    side = issuer_side(
        issuer,
        platform_url=platform_url,
        credentials=credentials,
        institution=institution,
        platform_name=platform_name,
        ca_name=ca_name,
    )
    platform.add_identity("default", side.platform_key)
    known_institution = platform.add_counterparty(
        name=institution,
        role="institution",
        appid=credentials.appid,
        appkey=credentials.appkey,
        appsecret=credentials.appsecret,
        public_key=side.issuer.key.public_key,
        endpoint_url=issuer_url,
    )
    return Pairing(
        side.issuer, side.platform_key, side.platform_id, credentials, side.profile, known_institution.id
    )
