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
class Credentials:
    """What a platform issues an institution: ``appid``, ``appkey`` and ``appsecret``."""

    appid: str
    appkey: str
    appsecret: str

    @classmethod
    def fresh(cls, prefix: str = "SBX") -> Credentials:
        """Random credentials, the appid starting with ``prefix``."""
        return cls(f"{prefix}{secrets.token_hex(4).upper()}", secrets.token_hex(8), secrets.token_hex(16))

    def __repr__(self) -> str:
        return f"Credentials(appid={self.appid!r})"


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
class Pairing:
    """What pairing made: the keys, and each side's id for the other."""

    issuer: IssuerIdentity
    platform_key: SM2PrivateKey
    institution_id: str  # the issuer, as the platform knows it
    platform_id: str  # the platform, as the issuer knows it

    def platform_channel(self, credentials: Credentials, profile: Profile | None = None) -> Channel:
        """The channel the platform talks to the issuer on."""
        return Channel(
            credentials.appid,
            credentials.appkey,
            credentials.appsecret,
            self.platform_key,
            self.issuer.key.public_key,
            profile or Profile(),
        )


def pair(
    issuer: Registry,
    platform: Registry,
    *,
    issuer_url: str,
    platform_url: str,
    credentials: Credentials,
    institution: str = "示范担保有限公司",
    platform_name: str = "示范政府采购金融服务平台",
    ca_name: str = "baohan Test CA",
) -> Pairing:
    """Register an issuer and a platform with each other, each reachable at its ELYApi URL."""
    identity = certify_issuer(issuer, institution, ca_name)
    platform_key = SM2PrivateKey.generate()
    platform.add_identity("default", platform_key)
    known_platform = issuer.add_counterparty(
        name=platform_name,
        role="platform",
        appid=credentials.appid,
        appkey=credentials.appkey,
        appsecret=credentials.appsecret,
        public_key=platform_key.public_key,
        endpoint_url=platform_url,
    )
    known_institution = platform.add_counterparty(
        name=institution,
        role="institution",
        appid=credentials.appid,
        appkey=credentials.appkey,
        appsecret=credentials.appsecret,
        public_key=identity.key.public_key,
        endpoint_url=issuer_url,
    )
    return Pairing(identity, platform_key, known_institution.id, known_platform.id)
