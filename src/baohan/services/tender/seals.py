"""The institution's electronic seal (GB/T 38540 SESeal) for the tender guarantees.

In production the SESeal is made by a licensed seal maker and configured as bytes
(``IssuerSettings.seal``); it must list our identity's certificate as a user. Without one (the sandbox,
the demo, the tests) the seal is made here by our own identity acting as its maker: the red round picture
drawn with the institution's name, signed by the identity's key, listing the identity's certificate,
valid as long as the certificate. It verifies like any other seal; a reader that insists on a known seal
maker will not trust it, which is what a self-made seal deserves.
"""

from __future__ import annotations

import threading
from datetime import datetime

from baohan.adapters.documents.ofd import SealSpec, draw_seal, make_seal
from baohan.adapters.documents.ofd.ses import lists_user, load_seal
from baohan.adapters.documents.tender_guarantee import InstitutionSeal
from baohan.services.registry import Identity

CAPTION = "保函专用章"
SEAL_NAME_MAX = 40  # the picture's rim holds at most this many characters


class SealUnavailable(ValueError):
    """The seal cannot be made or used: the message says what is missing."""


class Seals:
    """The seal of each identity certificate, made (or checked) once per process."""

    def __init__(self, configured: bytes | None = None) -> None:
        self._configured = configured
        self._lock = threading.Lock()
        self._made: dict[bytes, InstitutionSeal] = {}

    def seal(self, identity: Identity, institution: str, now: datetime) -> InstitutionSeal:
        """The seal ``identity`` seals with; SealUnavailable when it has no certificate or the configured
        seal does not list it."""
        certificate = identity.certificate
        if certificate is None:
            raise SealUnavailable(f"our identity {identity.name!r} has no certificate to seal with")
        fingerprint = certificate.to_der()
        with self._lock:
            cached = self._made.get(fingerprint)
        if cached is not None:
            return cached
        if self._configured is not None:
            if not lists_user(load_seal(self._configured), certificate):
                raise SealUnavailable(
                    "the configured seal does not list our identity's certificate as a user"
                )
            made = InstitutionSeal(self._configured, identity.key, certificate)
        else:
            name = institution.strip()[:SEAL_NAME_MAX]
            spec = SealSpec(
                es_id=fingerprint.hex()[-14:],
                name=f"{institution}{CAPTION}",
                picture_png=draw_seal(name, caption=CAPTION, size_px=240),
                users=[certificate],
                valid_from=certificate.not_before,
                valid_to=certificate.not_after,
            )
            made = InstitutionSeal(
                make_seal(spec, identity.key, certificate, created=now), identity.key, certificate
            )
        with self._lock:
            self._made[fingerprint] = made
        return made
