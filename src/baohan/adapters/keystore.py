"""Secrets at rest (private keys, appsecrets) sealed with AES-256-GCM under a passphrase from the environment.

A sealed secret is ``bh1$`` + Base64(salt ‖ nonce ‖ ciphertext); the key comes from scrypt(passphrase,
salt) and the record it belongs to is bound in as associated data, so a sealed value copied to another
row does not open there.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

PASSPHRASE_ENV = "BAOHAN_KEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret
_PREFIX = "bh1$"
_SALT, _NONCE = 16, 12
_MIN_PASSPHRASE = 12


class KeyStoreError(Exception):
    """A missing or weak passphrase, or a sealed secret that does not open (wrong passphrase, tampered)."""


class SecretBox:
    """Seals and opens secrets; derived keys are cached per salt so a secret costs one scrypt per process."""

    __slots__ = ("_cache", "_passphrase")

    def __init__(self, passphrase: str) -> None:
        if len(passphrase) < _MIN_PASSPHRASE:
            raise KeyStoreError(f"the key passphrase must be at least {_MIN_PASSPHRASE} characters")
        self._passphrase = passphrase.encode("utf-8")
        self._cache: dict[bytes, AESGCM] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecretBox:
        """The box for ``$BAOHAN_KEY_PASSPHRASE``; KeyStoreError saying how to set it when absent."""
        value = (os.environ if env is None else env).get(PASSPHRASE_ENV, "")
        if not value:
            raise KeyStoreError(f"{PASSPHRASE_ENV} is not set: private keys are stored encrypted under it")
        return cls(value)

    def _aead(self, salt: bytes) -> AESGCM:
        aead = self._cache.get(salt)
        if aead is None:
            key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(self._passphrase)
            aead = self._cache[salt] = AESGCM(key)
        return aead

    def seal(self, secret: bytes, *, context: str) -> str:
        """The sealed form of ``secret``, bound to ``context`` (e.g. ``counterparty:BANK0001:appsecret``)."""
        salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
        sealed = self._aead(salt).encrypt(nonce, secret, context.encode("utf-8"))
        return _PREFIX + base64.b64encode(salt + nonce + sealed).decode("ascii")

    def open(self, token: str, *, context: str) -> bytes:
        """The secret inside ``token``; KeyStoreError if the passphrase, the context or the bytes differ."""
        if not token.startswith(_PREFIX):
            raise KeyStoreError(f"{context}: not a sealed secret")
        try:
            blob = base64.b64decode(token[len(_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise KeyStoreError(f"{context}: sealed secret is not Base64") from None
        if len(blob) < _SALT + _NONCE + 16:
            raise KeyStoreError(f"{context}: sealed secret is truncated")
        salt, nonce, sealed = blob[:_SALT], blob[_SALT : _SALT + _NONCE], blob[_SALT + _NONCE :]
        try:
            return self._aead(salt).decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise KeyStoreError(f"{context}: wrong passphrase, or the sealed secret was altered") from None

    def __repr__(self) -> str:
        return "SecretBox(<passphrase hidden>)"
