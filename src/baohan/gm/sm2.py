"""SM2 (GB/T 32918) keys, SM3withSM2 signatures and public-key encryption.

Keys come in and go out as raw hex, Base64, PEM or DER (PKCS#8, SEC1, SubjectPublicKeyInfo);
ciphertexts in every layout of :mod:`baohan.gm.ciphertext`; signatures as DER or raw ``r‖s``.
"""

from __future__ import annotations

import re
from typing import Literal

from asn1crypto import keys, pem

from baohan.gm import _backend, oids
from baohan.gm.ciphertext import Layout, from_native, parsable_candidates
from baohan.gm.codec import from_base64, from_hex, unarmor
from baohan.gm.errors import DecryptionError, EncodingError, GMError, InvalidKeyError
from baohan.gm.signature import SignatureFormat, raw_to_der, to_raw

DEFAULT_UID = _backend.DEFAULT_UID
PublicForm = Literal["uncompressed", "raw", "compressed"]
PrivateFormat = Literal["pkcs8", "sec1"]
_HEXISH = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")
# GB/T 32918.4 step A5 refuses an all-zero KDF output, which an empty message always is; OpenSSL and
# BouncyCastle refuse it too, so we never mint a ciphertext our peers cannot read.
_NATIVE_OVERHEAD = 1 + 64 + 32  # 04‖C1‖C3 around C2
_EMPTY = "SM2 cannot encrypt an empty message (GB/T 32918.4 A5; OpenSSL and BouncyCastle refuse it too)"


def _uid(uid: bytes | str) -> bytes:
    return uid.encode("utf-8") if isinstance(uid, str) else uid


class SM2PublicKey:
    """A point on the SM2 curve, checked on construction."""

    __slots__ = ("_encryptor", "_point")

    def __init__(self, point: bytes) -> None:
        if len(point) not in (33, 65) or point[0] not in (2, 3, 4) or not _backend.is_public_valid(point):
            raise InvalidKeyError("SM2 public key is not a point on the SM2 curve")
        self._point = _backend.uncompress(point) if len(point) == 33 else point
        self._encryptor: _backend.Encryptor | None = None  # loaded on first use, then reused

    @classmethod
    def load(cls, data: str | bytes) -> SM2PublicKey:
        """Read hex (``04‖X‖Y``, ``X‖Y``, compressed), Base64, PEM/DER SubjectPublicKeyInfo or a PEM certificate."""
        if isinstance(data, str):
            text = data.strip()
            if text.startswith("-----BEGIN"):
                return cls._from_binary(text.encode("ascii"))
            if _HEXISH.match(text) and len(text.removeprefix("0x")) in (66, 128, 130):
                return cls._from_binary(from_hex(text.removeprefix("0x"), "public key"))
            return cls._from_binary(from_base64(text, "public key"))
        return cls._from_binary(data)

    @classmethod
    def _from_binary(cls, blob: bytes) -> SM2PublicKey:
        if pem.detect(blob):
            kind, der = unarmor(blob, InvalidKeyError)
            if kind == "CERTIFICATE":
                from baohan.gm.certificates import SM2Certificate

                return SM2Certificate.load(der).public_key
            if kind != "PUBLIC KEY":
                raise InvalidKeyError(f"expected a PUBLIC KEY or CERTIFICATE PEM block, got {kind}")
            return cls._from_spki(der)
        if len(blob) == 64:
            return cls(b"\x04" + blob)
        if len(blob) in (33, 65) and blob[0] in (2, 3, 4):
            return cls(blob)
        if blob[:1] == b"\x30":
            return cls._from_spki(blob)
        raise InvalidKeyError(f"SM2 public key has an unrecognised form ({len(blob)} bytes)")

    @classmethod
    def _from_spki(cls, der: bytes) -> SM2PublicKey:
        try:
            info = keys.PublicKeyInfo.load(der, strict=True)
            algorithm = info["algorithm"]
            algo_oid = algorithm["algorithm"].dotted
            params = algorithm["parameters"]
            curve = params.chosen.dotted if algo_oid == oids.EC_PUBLIC_KEY else algo_oid
            point = bytes(info["public_key"])
        except (ValueError, TypeError, KeyError, AttributeError):
            raise InvalidKeyError("SM2 public key DER is not a SubjectPublicKeyInfo") from None
        if curve != oids.SM2_CURVE:
            raise InvalidKeyError(f"public key is not on the SM2 curve (curve {curve})")
        return cls(point)

    def to_bytes(self, form: PublicForm = "uncompressed") -> bytes:
        """``04‖X‖Y`` (uncompressed), ``X‖Y`` (raw) or the 33-byte compressed point."""
        if form == "raw":
            return self._point[1:]
        if form == "compressed":
            return _backend.compress(self._point)
        return self._point

    def to_hex(self, form: PublicForm = "uncompressed") -> str:
        """Lowercase hex of :meth:`to_bytes`."""
        return self.to_bytes(form).hex()

    def to_der(self) -> bytes:
        """DER SubjectPublicKeyInfo (id-ecPublicKey, namedCurve sm2p256v1)."""
        return bytes(self.spki().dump())

    def spki(self) -> keys.PublicKeyInfo:
        """The asn1crypto SubjectPublicKeyInfo, for certificate builders."""
        return keys.PublicKeyInfo(
            {
                "algorithm": {"algorithm": "ec", "parameters": ("named", "sm2p256v1")},
                "public_key": self._point,
            }
        )

    def to_pem(self) -> str:
        """PEM ``PUBLIC KEY`` block."""
        return bytes(pem.armor("PUBLIC KEY", self.to_der())).decode("ascii")

    def verify(
        self,
        message: bytes,
        signature: bytes,
        *,
        uid: bytes | str = DEFAULT_UID,
        fmt: SignatureFormat | Literal["auto"] = "auto",
    ) -> bool:
        """True when ``signature`` (DER or raw ``r‖s``) is a valid SM3withSM2 signature of ``message``."""
        raw = to_raw(signature, fmt)
        return raw is not None and _backend.verify(self._point, message, raw, _uid(uid))

    def encrypt(
        self, plaintext: bytes, *, layout: Layout | str = Layout.C1C3C2, prefix: bool = True
    ) -> bytes:
        """SM2-encrypt a non-empty message of any length for this key, laid out as ``layout``."""
        if not plaintext:
            raise GMError(_EMPTY)
        if self._encryptor is None:
            self._encryptor = _backend.Encryptor(self._point)
        return from_native(self._encryptor.encrypt(plaintext), layout, prefix)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"SM2PublicKey({self.to_hex()})"


class SM2PrivateKey:
    """An SM2 private scalar d with 1 ≤ d ≤ n-2; its repr never shows the secret."""

    __slots__ = ("_d", "_decryptor", "_public")

    def __init__(self, secret: bytes) -> None:
        if not _backend.is_private_valid(secret):
            raise InvalidKeyError("SM2 private key is out of range (need 32 bytes, 1 ≤ d ≤ n-2)")
        self._d = secret
        self._public = SM2PublicKey(_backend.public_from_private(secret))
        self._decryptor: _backend.Decryptor | None = None  # loaded on first use, then reused

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        """A fresh key from the backend's CSPRNG."""
        secret, _ = _backend.generate_keypair()
        return cls(secret)

    @classmethod
    def load(cls, data: str | bytes) -> SM2PrivateKey:
        """Read hex (64 digits), Base64, or PEM/DER PKCS#8 or SEC1 (``EC``/``SM2 PRIVATE KEY``)."""
        if isinstance(data, str):
            text = data.strip()
            if text.startswith("-----BEGIN"):
                return cls._from_binary(text.encode("ascii"))
            if _HEXISH.match(text) and len(text.removeprefix("0x")) <= 66:
                value = int(text.removeprefix("0x"), 16)
                if value.bit_length() > 256:
                    raise InvalidKeyError("SM2 private key is out of range")
                return cls(value.to_bytes(32, "big"))
            try:
                return cls._from_binary(from_base64(text, "private key"))
            except EncodingError:
                raise InvalidKeyError("SM2 private key is neither hex, Base64, PEM nor DER") from None
        return cls._from_binary(data)

    @classmethod
    def _from_binary(cls, blob: bytes) -> SM2PrivateKey:
        if pem.detect(blob):
            kind, der = unarmor(blob, InvalidKeyError)
            if kind == "ENCRYPTED PRIVATE KEY":
                raise InvalidKeyError("encrypted PEM private keys are not supported here; decrypt it first")
            # OpenSSL 3 labels a SEC1 SM2 key "SM2 PRIVATE KEY"; the structure is the same ECPrivateKey.
            if kind not in ("PRIVATE KEY", "EC PRIVATE KEY", "SM2 PRIVATE KEY"):
                raise InvalidKeyError(f"expected a PRIVATE KEY or EC PRIVATE KEY PEM block, got {kind}")
            blob = der
        if len(blob) == 32:
            return cls(blob)
        if blob[:1] != b"\x30":
            raise InvalidKeyError(f"SM2 private key has an unrecognised form ({len(blob)} bytes)")
        return cls._from_der(blob)

    @classmethod
    def _from_der(cls, der: bytes) -> SM2PrivateKey:
        curve: str | None = None
        try:
            info = keys.PrivateKeyInfo.load(der, strict=True)
            algo = info["private_key_algorithm"]
            algo_oid = algo["algorithm"].dotted
            curve = algo["parameters"].chosen.dotted if algo_oid == oids.EC_PUBLIC_KEY else algo_oid
            ec = info["private_key"].parsed
        except (ValueError, TypeError, KeyError, AttributeError):
            try:
                ec = keys.ECPrivateKey.load(der, strict=True)
                ec.native  # noqa: B018 - forces a full parse so malformed input fails here
            except (ValueError, TypeError, KeyError):
                raise InvalidKeyError("SM2 private key DER is neither PKCS#8 nor SEC1") from None
            params = ec["parameters"]
            if params.native is not None:
                curve = params.chosen.dotted
        if curve is not None and curve != oids.SM2_CURVE:
            raise InvalidKeyError(f"private key is not on the SM2 curve (curve {curve})")
        value = ec["private_key"].native
        if not isinstance(value, int) or value.bit_length() > 256:
            raise InvalidKeyError("SM2 private key is out of range")
        return cls(value.to_bytes(32, "big"))

    @property
    def public_key(self) -> SM2PublicKey:
        """The matching public key."""
        return self._public

    def to_bytes(self) -> bytes:
        """The 32-byte big-endian scalar. Handle with care: this is the secret."""
        return self._d

    def to_hex(self) -> str:
        """The scalar as 64 lowercase hex digits."""
        return self._d.hex()

    def _ec_private_key(self, with_curve: bool) -> keys.ECPrivateKey:
        value: dict[str, object] = {
            "version": "ecPrivkeyVer1",
            "private_key": int.from_bytes(self._d, "big"),
            "public_key": self._public.to_bytes(),
        }
        if with_curve:
            value["parameters"] = ("named", "sm2p256v1")
        return keys.ECPrivateKey(value)

    def to_der(self, fmt: PrivateFormat = "pkcs8") -> bytes:
        """DER PKCS#8 PrivateKeyInfo (the default, as OpenSSL 3 writes) or SEC1 ECPrivateKey."""
        if fmt == "sec1":
            return bytes(self._ec_private_key(with_curve=True).dump())
        info = keys.PrivateKeyInfo(
            {
                "version": 0,
                "private_key_algorithm": {"algorithm": "ec", "parameters": ("named", "sm2p256v1")},
                "private_key": self._ec_private_key(with_curve=False),
            }
        )
        return bytes(info.dump())

    def to_pem(self, fmt: PrivateFormat = "pkcs8") -> str:
        """PEM ``PRIVATE KEY`` (PKCS#8) or ``EC PRIVATE KEY`` (SEC1)."""
        kind = "EC PRIVATE KEY" if fmt == "sec1" else "PRIVATE KEY"
        return bytes(pem.armor(kind, self.to_der(fmt))).decode("ascii")

    def sign(self, message: bytes, *, uid: bytes | str = DEFAULT_UID, fmt: SignatureFormat = "der") -> bytes:
        """SM3withSM2 signature of ``message`` with user ID ``uid``: DER by default, or raw ``r‖s``."""
        raw = _backend.sign(self._d, message, _uid(uid))
        return raw if fmt == "raw" else raw_to_der(raw)

    def decrypt(
        self, ciphertext: bytes, *, layout: Layout | str = "auto", prefix: bool | None = None
    ) -> bytes:
        """Plaintext of an SM2 ciphertext; ``auto`` tries every layout and keeps the one whose C3 verifies."""
        natives = parsable_candidates(ciphertext, layout, prefix)
        empty_seen = False
        if self._decryptor is None:
            self._decryptor = _backend.Decryptor(self._d)
        for native in natives:
            if len(native) == _NATIVE_OVERHEAD:
                empty_seen = True
                continue
            plain = self._decryptor.decrypt(native)
            if plain is not None:
                return plain
        if empty_seen:
            raise DecryptionError(_EMPTY)
        raise DecryptionError(
            "SM2 decryption failed: the C3 digest does not check out "
            "(wrong key, wrong layout or corrupted ciphertext)"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SM2PrivateKey) and other._d == self._d

    def __hash__(self) -> int:
        return hash(self._public)

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public={self._public.to_hex()})"
