"""Secrets at rest (private keys, appsecrets) sealed with AES-256-GCM under a passphrase from the environment.

Envelope encryption: scrypt(passphrase, salt) gives a key-encryption key (KEK) once per process and salt;
each secret gets a random data key (DEK) of its own, wrapped by the KEK. A sealed secret is ``bh2$`` +
Base64(KEK salt ‖ wrap nonce ‖ wrapped DEK ‖ nonce ‖ ciphertext). The record it belongs to (``context``)
is bound in as associated data of both layers, so a sealed value copied to another row does not open there.

The KEK salt is per deployment: a box bound to a database (:meth:`SecretBox.bound_to`) seals under the
salt kept in that database's ``key_encryption_keys`` table, shared by every process on it, together with
a check value that tells a wrong passphrase from an altered record. An unbound box draws one salt of its
own. Either way a token carries its salt, so it opens anywhere with the passphrase alone. The older
``bh1$`` tokens (one scrypt salt per secret, no DEK) still open.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import threading
from collections.abc import Mapping
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from baohan.adapters.db.engine import Base, UTCDateTime, utcnow

PASSPHRASE_ENV = "BAOHAN_KEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret  # nosec B105
LEGACY_PREFIX, PREFIX = "bh1$", "bh2$"
_SALT, _NONCE, _DEK, _TAG = 16, 12, 32, 16
_WRAPPED = _DEK + _TAG
_MIN_PASSPHRASE = 12


class KeyStoreError(Exception):
    """A missing or weak passphrase, or a sealed secret that does not open (wrong passphrase, tampered)."""


class KeyEncryptionKey(Base):
    """A deployment's KEK: its scrypt salt and a check value; the highest id seals, every row opens."""

    __tablename__ = "key_encryption_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    salt: Mapped[str] = mapped_column(String(32))  # hex
    check_value: Mapped[str] = mapped_column(String(32))  # hex; derived with the KEK, not from it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _scrypt(passphrase: bytes, salt: bytes, length: int) -> bytes:
    # The one slow step (tens of ms, 16 MiB): tests count its calls.
    return Scrypt(salt=salt, length=length, n=2**14, r=8, p=1).derive(passphrase)


class _Keys:
    """The passphrase and what was derived from it, shared by a box and its bound copies."""

    def __init__(self, passphrase: bytes) -> None:
        self.passphrase = passphrase
        self.lock = threading.Lock()
        self.derived: dict[bytes, tuple[AESGCM, bytes]] = {}  # salt → (KEK, its check value)
        self.checks: dict[bytes, bytes] = {}  # salt → check value stored by a database
        self.legacy: dict[bytes, AESGCM] = {}
        self.own_salt: bytes | None = None

    def _derive(self, salt: bytes) -> tuple[AESGCM, bytes]:
        entry = self.derived.get(salt)
        if entry is None:
            derived = _scrypt(self.passphrase, salt, _DEK + 16)
            entry = self.derived[salt] = (AESGCM(derived[:_DEK]), derived[_DEK:])
        return entry

    def check_value(self, salt: bytes) -> bytes:
        """The check value of the KEK for ``salt`` (deriving the KEK, so it is ready to use)."""
        with self.lock:
            return self._derive(salt)[1]

    def kek(self, salt: bytes) -> AESGCM:
        """The KEK for ``salt``, derived on first use; KeyStoreError if it fails a known check value."""
        with self.lock:  # held while deriving: threads asking together derive once
            kek, check = self._derive(salt)
            expected = self.checks.get(salt)
        if expected is not None and not hmac.compare_digest(check, expected):
            raise KeyStoreError("wrong passphrase: it does not open this database's key-encryption key")
        return kek

    def legacy_key(self, salt: bytes) -> AESGCM:
        with self.lock:
            aead = self.legacy.get(salt)
            if aead is None:
                aead = self.legacy[salt] = AESGCM(_scrypt(self.passphrase, salt, _DEK))
            return aead


class SecretBox:
    """Seals and opens secrets; one scrypt per process and KEK salt, however many secrets."""

    __slots__ = ("_keys", "_salt")

    def __init__(self, passphrase: str) -> None:
        if len(passphrase) < _MIN_PASSPHRASE:
            raise KeyStoreError(f"the key passphrase must be at least {_MIN_PASSPHRASE} characters")
        self._keys = _Keys(passphrase.encode("utf-8"))
        self._salt: bytes | None = None  # None: the box's own salt, drawn on first seal

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecretBox:
        """The box for ``$BAOHAN_KEY_PASSPHRASE``; KeyStoreError saying how to set it when absent."""
        value = (os.environ if env is None else env).get(PASSPHRASE_ENV, "")
        if not value:
            raise KeyStoreError(f"{PASSPHRASE_ENV} is not set: private keys are stored encrypted under it")
        return cls(value)

    def bound_to(self, session: Session) -> SecretBox:
        """A box sealing under this database's KEK, made in ``session`` if absent; derivations stay shared.

        Call it inside the transaction that also opens the rows already sealed, so a wrong passphrase on
        a database without a KEK yet rolls the new KEK back instead of locking the right one out.
        KeyStoreError "wrong passphrase" when the passphrase does not open the database's KEK.
        """
        rows = session.scalars(select(KeyEncryptionKey).order_by(KeyEncryptionKey.id)).all()
        if not rows:
            salt = os.urandom(_SALT)
            try:
                with session.begin_nested():  # a savepoint: losing the race keeps the transaction
                    session.add(
                        KeyEncryptionKey(
                            id=1, salt=salt.hex(), check_value=self._keys.check_value(salt).hex()
                        )
                    )
            except IntegrityError:  # another process made it first: use theirs
                pass
            rows = session.scalars(select(KeyEncryptionKey).order_by(KeyEncryptionKey.id)).all()
        with self._keys.lock:
            for row in rows:
                self._keys.checks[bytes.fromhex(row.salt)] = bytes.fromhex(row.check_value)
        bound = SecretBox.__new__(SecretBox)
        bound._keys, bound._salt = self._keys, bytes.fromhex(rows[-1].salt)
        bound._keys.kek(bound._salt)  # a wrong passphrase shows now, not at the first secret
        return bound

    @property
    def sealing_prefix(self) -> str:
        """What every token this box seals starts with (``bh2$`` and its KEK salt): older ones do not."""
        # 21 Base64 characters carry the salt's 16 bytes and nothing after them.
        return PREFIX + base64.b64encode(self._sealing_salt()).decode("ascii")[:21]

    def _sealing_salt(self) -> bytes:
        if self._salt is not None:
            return self._salt
        with self._keys.lock:
            if self._keys.own_salt is None:
                self._keys.own_salt = os.urandom(_SALT)
            return self._keys.own_salt

    def seal(self, secret: bytes, *, context: str) -> str:
        """The sealed form of ``secret``, bound to ``context`` (e.g. ``counterparty:BANK0001:appsecret``)."""
        salt = self._sealing_salt()
        ad = context.encode("utf-8")
        dek, wrap_nonce, nonce = AESGCM.generate_key(bit_length=256), os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped = self._keys.kek(salt).encrypt(wrap_nonce, dek, ad)
        sealed = AESGCM(dek).encrypt(nonce, secret, ad)
        return PREFIX + base64.b64encode(salt + wrap_nonce + wrapped + nonce + sealed).decode("ascii")

    def open(self, token: str, *, context: str) -> bytes:
        """The secret inside ``token``; KeyStoreError if the passphrase, the context or the bytes differ."""
        if token.startswith(PREFIX):
            return self._open_v2(_decode(token, PREFIX, context), context)
        if token.startswith(LEGACY_PREFIX):
            return self._open_v1(_decode(token, LEGACY_PREFIX, context), context)
        raise KeyStoreError(f"{context}: not a sealed secret")

    def _open_v2(self, blob: bytes, context: str) -> bytes:
        if len(blob) < _SALT + _NONCE + _WRAPPED + _NONCE + _TAG:
            raise KeyStoreError(f"{context}: sealed secret is truncated")
        salt, rest = blob[:_SALT], blob[_SALT:]
        wrap_nonce, wrapped, rest = rest[:_NONCE], rest[_NONCE : _NONCE + _WRAPPED], rest[_NONCE + _WRAPPED :]
        nonce, sealed = rest[:_NONCE], rest[_NONCE:]
        ad = context.encode("utf-8")
        kek = self._keys.kek(salt)
        try:
            return AESGCM(kek.decrypt(wrap_nonce, wrapped, ad)).decrypt(nonce, sealed, ad)
        except InvalidTag:
            if salt in self._keys.checks:  # the passphrase passed this KEK's check: the record is at fault
                raise KeyStoreError(
                    f"{context}: the sealed secret was altered or belongs to another record"
                ) from None
            raise KeyStoreError(f"{context}: wrong passphrase, or the sealed secret was altered") from None

    def _open_v1(self, blob: bytes, context: str) -> bytes:
        if len(blob) < _SALT + _NONCE + _TAG:
            raise KeyStoreError(f"{context}: sealed secret is truncated")
        salt, nonce, sealed = blob[:_SALT], blob[_SALT : _SALT + _NONCE], blob[_SALT + _NONCE :]
        try:
            return self._keys.legacy_key(salt).decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise KeyStoreError(f"{context}: wrong passphrase, or the sealed secret was altered") from None

    def __repr__(self) -> str:
        return "SecretBox(<passphrase hidden>)"


def _decode(token: str, prefix: str, context: str) -> bytes:
    try:
        return base64.b64decode(token[len(prefix) :], validate=True)
    except (binascii.Error, ValueError):
        raise KeyStoreError(f"{context}: sealed secret is not Base64") from None
