"""Who we talk to: our keys, the registered counterparties, their channels, replays and the pause switch."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from baohan.adapters.db.engine import transaction
from baohan.adapters.db.tables import Counterparty, OwnKey, ProcessedRequest, Switch
from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2Certificate, SM2PrivateKey, SM2PublicKey
from baohan.protocols.procurement.codes import Code, ProtocolError
from baohan.protocols.procurement.endpoint import Answer
from baohan.protocols.procurement.envelope import Channel
from baohan.protocols.profile import Profile

SessionFactory = Callable[[], Session]
PROTOCOL = "procurement"


@dataclass(frozen=True, slots=True)
class Identity:
    """One of our SM2 identities, opened from the key store."""

    name: str
    key: SM2PrivateKey
    certificate: SM2Certificate | None
    ca_certificate: SM2Certificate | None

    def __repr__(self) -> str:
        return f"Identity({self.name!r}, public={self.key.public_key.to_hex()[:18]}…)"


@dataclass(frozen=True, slots=True)
class Peer:
    """A registered counterparty as the services use it."""

    id: str
    name: str
    role: str
    endpoint_url: str | None
    per_transcode_paths: bool
    channel: Channel


class Registry:
    """Reads and writes our identities and counterparties; opened secrets are cached per process.

    Never call it inside an open transaction: on SQLite every session takes the write lock at BEGIN, so a
    second session in the same thread waits for the first forever (until busy_timeout). Resolve peers and
    identities first, then open the transaction.
    """

    def __init__(self, sessions: SessionFactory, box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box
        self._lock = threading.Lock()
        self._identities: dict[str, Identity] = {}
        self._peers_by_appid: dict[str, Peer] = {}
        self._peers_by_id: dict[str, Peer] = {}

    def add_identity(
        self,
        name: str,
        key: SM2PrivateKey,
        certificate: SM2Certificate | None = None,
        ca_certificate: SM2Certificate | None = None,
    ) -> Identity:
        """Store one of our keys (sealed) with its certificate and CA."""
        with transaction(self._sessions) as session:
            session.merge(
                OwnKey(
                    name=name,
                    private_key_sealed=self._box.seal(key.to_bytes(), context=f"own_key:{name}"),
                    public_key=key.public_key.to_hex(),
                    certificate_pem=certificate.to_pem() if certificate else None,
                    ca_certificate_pem=ca_certificate.to_pem() if ca_certificate else None,
                )
            )
        with self._lock:
            self._identities.pop(name, None)
        return self.identity(name)

    def identity(self, name: str = "default") -> Identity:
        """Our identity ``name``; KeyError if none is stored under it."""
        with self._lock:
            cached = self._identities.get(name)
        if cached is not None:
            return cached
        with self._sessions() as session:
            row = session.get(OwnKey, name)
            if row is None:
                raise KeyError(f"no own key named {name!r}")
            secret = self._box.open(row.private_key_sealed, context=f"own_key:{name}")
            identity = Identity(
                name,
                SM2PrivateKey(secret),
                SM2Certificate.load(row.certificate_pem) if row.certificate_pem else None,
                SM2Certificate.load(row.ca_certificate_pem) if row.ca_certificate_pem else None,
            )
        with self._lock:
            self._identities[name] = identity
        return identity

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
        profile: Profile | None = None,
        per_transcode_paths: bool = False,
        counterparty_id: str | None = None,
    ) -> Peer:
        """Register a counterparty; its appsecret is sealed at rest. ValueError if the appid is taken."""
        cid = counterparty_id or uuid.uuid4().hex
        try:
            with transaction(self._sessions) as session:
                session.add(
                    Counterparty(
                        id=cid,
                        protocol=PROTOCOL,
                        role=role,
                        name=name,
                        appid=appid,
                        appkey=appkey,
                        appsecret_sealed=self._box.seal(
                            appsecret.encode(), context=f"counterparty:{cid}:appsecret"
                        ),
                        public_key=public_key.to_hex(),
                        own_key_name=own_key_name,
                        endpoint_url=endpoint_url,
                        per_transcode_paths=per_transcode_paths,
                        profile=(profile or Profile()).to_dict(),
                    )
                )
        except IntegrityError:
            raise ValueError(f"appid {appid} is already registered") from None
        return self.peer(cid)

    def _load(self, row: Counterparty) -> Peer:
        channel = Channel(
            appid=row.appid,
            appkey=row.appkey,
            appsecret=self._box.open(
                row.appsecret_sealed, context=f"counterparty:{row.id}:appsecret"
            ).decode(),
            own_key=self.identity(row.own_key_name).key,
            peer_key=SM2PublicKey.load(row.public_key),
            profile=Profile.from_dict(row.profile),
        )
        peer = Peer(row.id, row.name, row.role, row.endpoint_url, row.per_transcode_paths, channel)
        with self._lock:
            self._peers_by_appid[row.appid] = peer
            self._peers_by_id[row.id] = peer
        return peer

    def peer(self, counterparty_id: str) -> Peer:
        """The counterparty ``counterparty_id``; KeyError if unknown."""
        with self._lock:
            cached = self._peers_by_id.get(counterparty_id)
        if cached is not None:
            return cached
        # Close the session before loading: _load opens its own, and SQLite sessions hold the write lock.
        with self._sessions() as session:
            row = session.get(Counterparty, counterparty_id)
        if row is None or not row.active:
            raise KeyError(f"no counterparty {counterparty_id}")
        return self._load(row)

    def peer_by_appid(self, appid: str) -> Peer | None:
        """The active counterparty registered under ``appid``, or None."""
        with self._lock:
            cached = self._peers_by_appid.get(appid)
        if cached is not None:
            return cached
        with self._sessions() as session:
            row = session.scalars(
                select(Counterparty).where(Counterparty.protocol == PROTOCOL, Counterparty.appid == appid)
            ).first()
        return self._load(row) if row is not None and row.active else None

    def peers(self) -> list[Peer]:
        """Every active counterparty."""
        with self._sessions() as session:
            ids = session.scalars(select(Counterparty.id).where(Counterparty.active.is_(True))).all()
        return [self.peer(cid) for cid in ids]


class PauseSwitch:
    """The operator's ``paused`` switch, read at most once a second per process.

    Every request asks; a database read each time would cost more than the SM3 sign check. Setting it
    here takes effect at once in this process and within ``ttl`` seconds in the others.
    """

    def __init__(self, sessions: SessionFactory, ttl: float = 1.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value = False
        self._read_at = float("-inf")

    def paused(self) -> bool:
        """True while the switch is on."""
        now = time.monotonic()
        with self._lock:
            if now - self._read_at < self._ttl:
                return self._value
        with self._sessions() as session:
            value = is_paused(session)
        with self._lock:
            self._value, self._read_at = value, now
        return value

    def set(self, paused: bool) -> None:
        """Turn the switch on or off."""
        set_paused(self._sessions, paused)
        with self._lock:
            self._value, self._read_at = paused, time.monotonic()


def is_paused(session: Session) -> bool:
    """True while the operator switch ``paused`` is on."""
    row = session.get(Switch, "paused")
    return row is not None and row.value == "on"


def set_paused(sessions: SessionFactory, paused: bool) -> None:
    """Turn the ``paused`` switch on (answer 301) or off."""
    with transaction(sessions) as session:
        session.merge(Switch(name="paused", value="on" if paused else "off"))


def replayed(session: Session, appid: str, msgcode: str, fingerprint: str) -> Answer | None:
    """The recorded answer to ``msgcode``; 103 when the msgcode was used for different content."""
    row = session.get(ProcessedRequest, (appid, msgcode))
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise ProtocolError(Code.INVALID, f"msgcode: {msgcode} was already used for a different request")
    return Answer(Code(row.code), row.message, row.data)


def record_answer(
    session: Session, appid: str, msgcode: str, transcode: str, fingerprint: str, answer: Answer
) -> None:
    """Remember the answer in the caller's transaction, next to the effects it describes."""
    data: dict[str, Any] | None = answer.data
    session.add(
        ProcessedRequest(
            appid=appid,
            msgcode=msgcode,
            transcode=transcode,
            fingerprint=fingerprint,
            code=answer.code.value,
            message=answer.message[:200],
            data=data,
        )
    )
