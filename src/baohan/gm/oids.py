"""The GM object identifiers, taught to asn1crypto once at import so every parser and builder knows them."""

from __future__ import annotations

from asn1crypto import algos, keys

SM2_CURVE = "1.2.156.10197.1.301"  # sm2p256v1 (GM/T 0006)
SM3 = "1.2.156.10197.1.401"
SM3_WITH_SM2 = "1.2.156.10197.1.501"
SM2_ENCRYPTION = "1.2.156.10197.1.301.3"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"


def _register() -> None:
    # asn1crypto keeps its OID maps as class attributes with a lazily built reverse map.
    if SM2_CURVE not in keys.NamedCurve._map:
        keys.NamedCurve.register("sm2p256v1", SM2_CURVE, 32)
    for cls, oid, name in (
        (algos.DigestAlgorithmId, SM3, "sm3"),
        (algos.SignedDigestAlgorithmId, SM3_WITH_SM2, "sm3_sm2"),
    ):
        if oid not in cls._map:
            cls._map[oid] = name
            # The reverse map is built once per class, at its first instance: extend it when built (set
            # back to None it would never be rebuilt).
            if cls._reverse_map is not None:
                cls._reverse_map[name] = oid


_register()
