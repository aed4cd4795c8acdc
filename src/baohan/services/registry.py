"""Who we talk to, protocol-neutral: our SM2 identities and each protocol's counterparties.

A registry serves one protocol: its listings never show another protocol's counterparties. What a
protocol needs to talk to a counterparty (its "channel": credentials, keys, wire profile) is built by a
factory the protocol hands in, so the profile settings are the protocol's own to validate. Secrets are
sealed at rest. Opened counterparties are cached per process; every change (a new counterparty, a
deactivation, a rotated secret or key) bumps a generation counter in the same transaction, and each
process checks it at most once a second (:class:`~baohan.services.switches.Switches`), so a change takes
effect everywhere within a second, without a restart.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baohan.adapters.db.engine import transaction, utcnow
from baohan.adapters.db.tables import Counterparty, OwnKey, RetiredKey
from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2Certificate, SM2PrivateKey, SM2PublicKey
from baohan.services.switches import REGISTRY_GENERATION, Switches, bump

SessionFactory = Callable[[], Session]
C = TypeVar("C")
MAX_IDENTIFIER = 64  # appid (procurement, 32) and appkey (tender, 50) both fit


def key_context(name: str) -> str:
    """The record a sealed private key belongs to: it opens only there."""
    return f"own_key:{name}"


def retired_key_context(retired_id: str) -> str:
    """The record a retired identity's sealed private key belongs to."""
    return f"retired_key:{retired_id}"


def appsecret_context(counterparty_id: str) -> str:
    """The record a sealed appsecret belongs to."""
    return f"counterparty:{counterparty_id}:appsecret"


class IdentityExists(ValueError):
    """An identity of that name is already stored, and replacing it was not asked for."""


@dataclass(frozen=True, slots=True)
class Identity:
    """One of our SM2 identities, opened from the key store, with the certificates of those it replaced."""

    name: str
    key: SM2PrivateKey
    certificate: SM2Certificate | None
    ca_certificate: SM2Certificate | None
    retired_certificates: tuple[SM2Certificate, ...] = ()  # and their CAs, oldest first

    def trusted(self) -> list[SM2Certificate]:
        """Every certificate a letter signed under this name may chain to: ours now and those retired."""
        current = [c for c in (self.certificate, self.ca_certificate) if c is not None]
        return current + [c for c in self.retired_certificates if c not in current]

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, public={self.key.public_key.to_hex()[:18]}…)"


@dataclass(frozen=True, slots=True)
class RetiredIdentity:
    """An identity replaced by another of its name, as operators see it."""

    id: str
    name: str
    public_key: str
    certificate: SM2Certificate | None
    retired_at: datetime


def _certificate(pem: str | None) -> SM2Certificate | None:
    return SM2Certificate.load(pem) if pem else None


@dataclass(frozen=True, slots=True)
class Credentials:
    """A counterparty's record, opened: what a protocol builds its channel from."""

    id: str
    appid: str
    appkey: str
    appsecret: str
    own_key: SM2PrivateKey
    peer_key: SM2PublicKey
    profile: dict[str, Any]

    def __repr__(self) -> str:  # the secret and the private key never reach a log line
        return f"Credentials(id={self.id!r}, appid={self.appid!r})"


@dataclass(frozen=True, slots=True)
class Peer(Generic[C]):
    """A registered counterparty as the services use it."""

    id: str
    name: str
    role: str
    endpoint_url: str | None
    per_transcode_paths: bool
    channel: C


@dataclass(frozen=True, slots=True)
class Listing:
    """A counterparty as operators see it: no secret, the public key and the state."""

    id: str
    protocol: str
    role: str
    name: str
    appid: str
    appkey: str
    public_key: str
    endpoint_url: str | None
    active: bool
    created_at: datetime


class Registry(Generic[C]):
    """Reads and writes our identities and ``protocol``'s counterparties; opened secrets are cached.

    Never call it inside an open transaction: on SQLite every session takes the write lock at BEGIN, so a
    second session in the same thread waits for the first forever (until busy_timeout). Resolve peers and
    identities first, then open the transaction.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        box: SecretBox,
        *,
        protocol: str,
        channel: Callable[[Credentials], C],
        profile: Callable[[Any], dict[str, Any]] = lambda settings: dict(settings or {}),
        switches: Switches | None = None,
        counterparty_role: str | None = None,
        identifier_max: Mapping[str, int] | None = None,
        appid_is_appkey: bool = False,
    ) -> None:
        self._sessions = sessions
        # A protocol whose requests name the counterparty by appkey alone (tender) keeps appid = appkey.
        self._appid_is_appkey = appid_is_appkey
        # The protocol's own limits (procurement's appid is 32): the column holds more, and SQLite any length.
        self._identifier_max = {"appid": MAX_IDENTIFIER, "appkey": MAX_IDENTIFIER, **(identifier_max or {})}
        self._box = box
        self.protocol = protocol
        self.counterparty_role = counterparty_role  # e.g. an issuer's registry serves platforms only
        self._channel = channel
        self._profile = profile  # checks a counterparty's wire profile and gives it as JSON
        self._switches = switches or Switches(sessions)
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._identities: dict[str, Identity] = {}
        self._peers_by_appid: dict[str, Peer[C]] = {}
        self._peers_by_id: dict[str, Peer[C]] = {}

    @property
    def box(self) -> SecretBox:
        """The key store this registry seals with (bound to the database's KEK when the runtime opened)."""
        return self._box

    @property
    def switches(self) -> Switches:
        """The operator switches this registry checks its freshness against."""
        return self._switches

    # -- freshness ------------------------------------------------------------------------------------------

    def _fresh(self) -> None:
        """Drop the caches when another process (or this one) changed the registry."""
        generation = self._switches.get(REGISTRY_GENERATION)
        if generation != self._generation:
            with self._lock:
                self._identities.clear()
                self._peers_by_appid.clear()
                self._peers_by_id.clear()
                self._generation = generation

    def _changed(self, session: Session) -> None:
        bump(session, REGISTRY_GENERATION)

    def _after_change(self) -> None:
        self._switches.forget()
        self._fresh()

    # -- identities -----------------------------------------------------------------------------------------

    def add_identity(
        self,
        name: str,
        key: SM2PrivateKey,
        certificate: SM2Certificate | None = None,
        ca_certificate: SM2Certificate | None = None,
        *,
        replace: bool = False,
    ) -> Identity:
        """Store one of our keys (sealed) with its certificate and CA.

        IdentityExists if ``name`` holds another key or certificate and ``replace`` is false; with
        ``replace`` the one it holds is retired (kept, sealed, its certificates still trusted), not deleted.
        """
        sealed = self._box.seal(key.to_bytes(), context=key_context(name))
        cert_pem = certificate.to_pem() if certificate else None
        ca_pem = ca_certificate.to_pem() if ca_certificate else None
        with transaction(self._sessions) as session:
            row = session.get(OwnKey, name, with_for_update=True)
            if row is None:
                session.add(
                    OwnKey(
                        name=name,
                        private_key_sealed=sealed,
                        public_key=key.public_key.to_hex(),
                        certificate_pem=cert_pem,
                        ca_certificate_pem=ca_pem,
                    )
                )
            elif (row.public_key, row.certificate_pem, row.ca_certificate_pem) != (
                key.public_key.to_hex(),
                cert_pem,
                ca_pem,
            ):
                if not replace:
                    raise IdentityExists(
                        f"identity {name!r} is already set (public key {row.public_key[:18]}…)"
                    )
                self._retire(session, row)
                row.private_key_sealed, row.public_key = sealed, key.public_key.to_hex()
                row.certificate_pem, row.ca_certificate_pem = cert_pem, ca_pem
                row.created_at = utcnow()
            self._changed(session)
        self._after_change()
        return self.identity(name)

    def _retire(self, session: Session, row: OwnKey) -> None:
        retired_id = uuid.uuid4().hex
        secret = self._box.open(row.private_key_sealed, context=key_context(row.name))
        session.add(
            RetiredKey(
                id=retired_id,
                name=row.name,
                private_key_sealed=self._box.seal(secret, context=retired_key_context(retired_id)),
                public_key=row.public_key,
                certificate_pem=row.certificate_pem,
                ca_certificate_pem=row.ca_certificate_pem,
                created_at=row.created_at,
            )
        )

    def retired(self, name: str = "default") -> list[RetiredIdentity]:
        """The identities ``name`` held before, oldest first (public parts only)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(RetiredKey).where(RetiredKey.name == name).order_by(RetiredKey.retired_at)
            ).all()
            return [
                RetiredIdentity(r.id, r.name, r.public_key, _certificate(r.certificate_pem), r.retired_at)
                for r in rows
            ]

    def identity(self, name: str = "default") -> Identity:
        """Our identity ``name``; KeyError if none is stored under it."""
        self._fresh()
        with self._lock:
            cached = self._identities.get(name)
        if cached is not None:
            return cached
        with self._sessions() as session:
            row = session.get(OwnKey, name)
            if row is None:
                raise KeyError(f"no own key named {name!r}")
            secret = self._box.open(row.private_key_sealed, context=key_context(name))
            retired = session.execute(
                select(RetiredKey.certificate_pem, RetiredKey.ca_certificate_pem)
                .where(RetiredKey.name == name)
                .order_by(RetiredKey.retired_at)
            ).all()
            identity = Identity(
                name,
                SM2PrivateKey(secret),
                _certificate(row.certificate_pem),
                _certificate(row.ca_certificate_pem),
                tuple(c for pems in retired for c in map(_certificate, pems) if c is not None),
            )
        with self._lock:
            self._identities[name] = identity
        return identity

    # -- counterparties -------------------------------------------------------------------------------------

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
        profile: Any = None,
        per_transcode_paths: bool = False,
        counterparty_id: str | None = None,
    ) -> Peer[C]:
        """Register a counterparty; its appsecret is sealed at rest. ValueError if the appid is taken or the
        wire ``profile`` (the protocol's settings; None for its defaults) is not valid.
        """
        if self.counterparty_role is not None and role != self.counterparty_role:
            raise ValueError(f"this registry keeps {self.counterparty_role} counterparties, not {role}")
        if self._appid_is_appkey and appid != appkey:
            raise ValueError(f"a {self.protocol} counterparty is named by its appkey: appid must equal it")
        names = (("appkey", appkey),) if self._appid_is_appkey else (("appid", appid), ("appkey", appkey))
        for field, value in names:
            limit = self._identifier_max[field]
            if not value or len(value) > limit or "\0" in value:
                raise ValueError(f"{field} must be 1 to {limit} characters (no NUL), got {len(value)}")
        settings = self._profile(profile)
        cid = counterparty_id or uuid.uuid4().hex
        try:
            with transaction(self._sessions) as session:
                session.add(
                    Counterparty(
                        id=cid,
                        protocol=self.protocol,
                        role=role,
                        name=name,
                        appid=appid,
                        appkey=appkey,
                        appsecret_sealed=self._box.seal(appsecret.encode(), context=appsecret_context(cid)),
                        public_key=public_key.to_hex(),
                        own_key_name=own_key_name,
                        endpoint_url=endpoint_url,
                        per_transcode_paths=per_transcode_paths,
                        profile=settings,
                    )
                )
                self._changed(session)
        except IntegrityError:
            raise ValueError(f"appid {appid} is already registered for a {self.protocol} {role}") from None
        self._after_change()
        return self.peer(cid)

    def _load(self, row: Counterparty) -> Peer[C]:
        credentials = Credentials(
            id=row.id,
            appid=row.appid,
            appkey=row.appkey,
            appsecret=self._box.open(row.appsecret_sealed, context=appsecret_context(row.id)).decode(),
            own_key=self.identity(row.own_key_name).key,
            peer_key=SM2PublicKey.load(row.public_key),
            profile=dict(row.profile or {}),
        )
        peer = Peer(
            row.id, row.name, row.role, row.endpoint_url, row.per_transcode_paths, self._channel(credentials)
        )
        with self._lock:
            self._peers_by_appid[row.appid] = peer
            self._peers_by_id[row.id] = peer
        return peer

    def peer(self, counterparty_id: str) -> Peer[C]:
        """The active counterparty ``counterparty_id`` of this protocol; KeyError if unknown or inactive."""
        self._fresh()
        with self._lock:
            cached = self._peers_by_id.get(counterparty_id)
        if cached is not None:
            return cached
        # Close the session before loading: _load opens its own, and SQLite sessions hold the write lock.
        with self._sessions() as session:
            row = session.get(Counterparty, counterparty_id)
        if row is None or not row.active or not self._ours(row):
            raise KeyError(f"no counterparty {counterparty_id}")
        return self._load(row)

    def peer_by_appid(self, appid: str) -> Peer[C] | None:
        """The active counterparty registered under ``appid``, or None."""
        self._fresh()
        with self._lock:
            cached = self._peers_by_appid.get(appid)
        if cached is not None:
            return cached
        with self._sessions() as session:
            row = session.scalars(self._select(Counterparty).where(Counterparty.appid == appid)).first()
        return self._load(row) if row is not None and row.active else None

    def peers(self) -> list[Peer[C]]:
        """Every active counterparty of this protocol (and role)."""
        with self._sessions() as session:
            ids = session.scalars(self._select(Counterparty.id).where(Counterparty.active.is_(True))).all()
        return [self.peer(cid) for cid in ids]

    def _ours(self, row: Counterparty) -> bool:
        return row.protocol == self.protocol and self.counterparty_role in (None, row.role)

    def _select(self, *columns: Any) -> Any:
        query = select(*columns).where(Counterparty.protocol == self.protocol)
        if self.counterparty_role is not None:
            query = query.where(Counterparty.role == self.counterparty_role)
        return query

    # -- operators ------------------------------------------------------------------------------------------

    def listing(self, *, include_inactive: bool = True) -> list[Listing]:
        """This protocol's counterparties for an operator, oldest first; no secrets."""
        query = self._select(Counterparty)
        if not include_inactive:
            query = query.where(Counterparty.active.is_(True))
        with self._sessions() as session:
            rows = session.scalars(query.order_by(Counterparty.created_at, Counterparty.id)).all()
        return [_listing(row) for row in rows]

    def set_active(self, counterparty_id: str, active: bool) -> Listing:
        """Deactivate (refuse its requests, send it nothing) or reactivate a counterparty."""
        with transaction(self._sessions) as session:
            row = self._row(session, counterparty_id)
            row.active = active
            self._changed(session)
            listed = _listing(row)
        self._after_change()
        return listed

    def rotate(
        self,
        counterparty_id: str,
        *,
        appsecret: str | None = None,
        public_key: SM2PublicKey | None = None,
        appkey: str | None = None,
    ) -> Listing:
        """Replace a counterparty's appsecret, public key or appkey; ValueError when none is given."""
        if appsecret is None and public_key is None and appkey is None:
            raise ValueError("give a new appsecret, public key or appkey to rotate")
        limit = self._identifier_max["appkey"]
        if appkey is not None and not 0 < len(appkey) <= limit:
            raise ValueError(f"appkey must be 1 to {limit} characters")
        if appsecret is not None and not appsecret:
            raise ValueError("appsecret must not be empty")
        with transaction(self._sessions) as session:
            row = self._row(session, counterparty_id)
            if appsecret is not None:
                row.appsecret_sealed = self._box.seal(appsecret.encode(), context=appsecret_context(row.id))
            if public_key is not None:
                row.public_key = public_key.to_hex()
            if appkey is not None:
                row.appkey = appkey
                if self._appid_is_appkey:
                    row.appid = appkey
            role = row.role  # (a failed flush expires the row)
            try:
                session.flush()
            except IntegrityError:
                raise ValueError(
                    f"appkey {appkey} is already registered for a {self.protocol} {role}"
                ) from None
            self._changed(session)
            listed = _listing(row)
        self._after_change()
        return listed

    def _row(self, session: Session, counterparty_id: str) -> Counterparty:
        row = session.get(Counterparty, counterparty_id, with_for_update=True)
        if row is None or not self._ours(row):
            raise LookupError(f"no {self.protocol} counterparty {counterparty_id}")
        return row


def _listing(row: Counterparty) -> Listing:
    return Listing(
        row.id,
        row.protocol,
        row.role,
        row.name,
        row.appid,
        row.appkey,
        row.public_key,
        row.endpoint_url,
        row.active,
        row.created_at,
    )


def reseal_all(sessions: SessionFactory, box: SecretBox) -> SecretBox:
    """``box`` bound to this database's KEK, with every key and appsecret sealed otherwise (``bh1$``, or
    another KEK) re-sealed under it, all in one transaction; idempotent.

    Opening the old rows first proves the passphrase on a database that has none of its KEK yet; a
    wrong one rolls everything back. Concurrent starts on PostgreSQL lock the rows they re-seal, and
    the second process then finds none left.
    """
    with transaction(sessions) as session:
        box = box.bound_to(session)
        current = box.sealing_prefix
        keys = select(OwnKey).where(OwnKey.private_key_sealed.not_like(f"{current}%"))
        for key in session.scalars(keys.with_for_update()):
            context = key_context(key.name)
            key.private_key_sealed = box.seal(
                box.open(key.private_key_sealed, context=context), context=context
            )
        retired = select(RetiredKey).where(RetiredKey.private_key_sealed.not_like(f"{current}%"))
        for old in session.scalars(retired.with_for_update()):
            context = retired_key_context(old.id)
            old.private_key_sealed = box.seal(
                box.open(old.private_key_sealed, context=context), context=context
            )
        parties = select(Counterparty).where(Counterparty.appsecret_sealed.not_like(f"{current}%"))
        for party in session.scalars(parties.with_for_update()):
            context = appsecret_context(party.id)
            party.appsecret_sealed = box.seal(
                box.open(party.appsecret_sealed, context=context), context=context
            )
    return box
