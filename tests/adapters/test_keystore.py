"""Secrets at rest: sealed under the passphrase, bound to their record, never readable without it."""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from baohan.adapters import keystore
from baohan.adapters.db.engine import make_engine, make_session_factory, transaction
from baohan.adapters.db.tables import Counterparty, OwnKey
from baohan.adapters.keystore import PASSPHRASE_ENV, KeyEncryptionKey, KeyStoreError, SecretBox
from baohan.gm import SM2PrivateKey
from baohan.services.procurement.registry import Registry
from baohan.services.procurement.runtime import open_runtime
from baohan.services.registry import reseal_all

PASSPHRASE = "correct horse battery staple"
BOX = SecretBox(PASSPHRASE)
# Sealed by the bh1 code (one scrypt salt per secret), before envelope encryption.
BH1_VECTOR = "bh1$D6VRbsh/cuT6dn/THKgjQ7lb0SwMh8pnanblQ25x03uHoGZXJyeRKKaOnlvYZW7cf7HQBqTW2TuBeTkb6w4Hp0TW"


def bh1_seal(secret: bytes, context: str, passphrase: str = PASSPHRASE) -> str:
    """A token in the bh1 layout, as the code before envelope encryption sealed it."""
    salt, nonce = os.urandom(16), os.urandom(12)
    key = keystore._scrypt(passphrase.encode(), salt, 32)
    sealed = AESGCM(key).encrypt(nonce, secret, context.encode())
    return "bh1$" + base64.b64encode(salt + nonce + sealed).decode()


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The salts scrypt is run with, in order, from here on."""
    calls: list[bytes] = []
    real = keystore._scrypt

    def counting(passphrase: bytes, salt: bytes, length: int) -> bytes:
        calls.append(salt)
        return real(passphrase, salt, length)

    monkeypatch.setattr(keystore, "_scrypt", counting)
    return calls


def bind(box: SecretBox, sessions: Callable[[], Session]) -> SecretBox:
    with transaction(sessions) as session:
        return box.bound_to(session)


@pytest.fixture
def sessions(db_url: str) -> Iterator[Callable[[], Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_round_trip_and_the_plaintext_is_not_in_the_sealed_form() -> None:
    key = SM2PrivateKey.generate()
    token = BOX.seal(key.to_bytes(), context="own_key:issuer")
    assert token.startswith("bh2$")
    assert key.to_hex() not in token and key.to_hex().upper() not in token
    assert BOX.open(token, context="own_key:issuer") == key.to_bytes()
    assert BOX.seal(b"x", context="c") != BOX.seal(b"x", context="c")  # fresh data key and nonces
    assert SecretBox(PASSPHRASE).open(token, context="own_key:issuer") == key.to_bytes()  # another process


def test_wrong_passphrase_is_refused() -> None:
    token = BOX.seal(b"appsecret", context="counterparty:BANK1:appsecret")
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        SecretBox("another long passphrase").open(token, context="counterparty:BANK1:appsecret")


def test_a_secret_copied_to_another_record_does_not_open() -> None:
    token = BOX.seal(b"appsecret", context="counterparty:BANK1:appsecret")
    with pytest.raises(KeyStoreError):
        BOX.open(token, context="counterparty:BANK2:appsecret")


def _flip(token: str, offset: int) -> str:
    blob = bytearray(base64.b64decode(token[4:]))
    blob[offset] ^= 1
    return token[:4] + base64.b64encode(bytes(blob)).decode()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-4] + "AAAA",
        lambda t: t[:20],
        lambda t: "plain",
        lambda t: "bh2$!!",
        lambda t: "bh1$" + t[4:],  # a bh2 body read as bh1
        lambda t: _flip(t, 3),  # the KEK salt
        lambda t: _flip(t, 16 + 12 + 5),  # the wrapped data key
        lambda t: _flip(t, -3),  # the ciphertext
    ],
)
def test_tampered_or_foreign_tokens_are_refused(mangle: Callable[[str], str]) -> None:
    token = BOX.seal(b"secret", context="c")
    with pytest.raises(KeyStoreError):
        BOX.open(mangle(token), context="c")


def test_tokens_sealed_by_the_bh1_code_still_open() -> None:
    assert BOX.open(BH1_VECTOR, context="own_key:legacy") == b"sealed by the bh1 code"
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        SecretBox("another long passphrase").open(BH1_VECTOR, context="own_key:legacy")
    with pytest.raises(KeyStoreError):
        BOX.open(BH1_VECTOR, context="own_key:other")


def test_many_secrets_cost_one_key_derivation(derivations: list[bytes]) -> None:
    box = SecretBox(PASSPHRASE)
    tokens = [box.seal(f"secret {i}".encode(), context=f"row:{i}") for i in range(300)]
    assert len(derivations) == 1
    reader = SecretBox(PASSPHRASE)  # another process
    assert [reader.open(t, context=f"row:{i}") for i, t in enumerate(tokens)] == [
        f"secret {i}".encode() for i in range(300)
    ]
    assert len(derivations) == 2


def test_passphrase_comes_from_the_environment_and_must_be_strong() -> None:
    with pytest.raises(KeyStoreError, match=PASSPHRASE_ENV):
        SecretBox.from_env({})
    with pytest.raises(KeyStoreError, match="at least 12"):
        SecretBox.from_env({PASSPHRASE_ENV: "short"})
    box = SecretBox.from_env({PASSPHRASE_ENV: "a sufficiently long one"})
    assert box.open(box.seal(b"k", context="c"), context="c") == b"k"


def test_repr_hides_the_passphrase() -> None:
    assert "horse" not in repr(BOX)


# A box bound to a database: one KEK per deployment, shared by every process on it.


def test_processes_on_one_database_share_its_kek(
    sessions: Callable[[], Session], derivations: list[bytes]
) -> None:
    first = bind(SecretBox(PASSPHRASE), sessions)  # makes the KEK
    with sessions() as session:
        rows = session.scalars(select(KeyEncryptionKey)).all()
    assert len(rows) == 1 and derivations == [bytes.fromhex(rows[0].salt)]
    tokens = [first.seal(f"s{i}".encode(), context=f"row:{i}") for i in range(200)]
    assert len(derivations) == 1
    second = bind(SecretBox(PASSPHRASE), sessions)  # another process: same row, one derivation
    assert [second.open(t, context=f"row:{i}") for i, t in enumerate(tokens)] == [
        f"s{i}".encode() for i in range(200)
    ]
    salts = {base64.b64decode(box.seal(b"x", context="c")[4:])[:16] for box in (first, second)}
    assert salts == {bytes.fromhex(rows[0].salt)}
    assert len(derivations) == 2
    with sessions() as session:
        assert session.scalars(select(KeyEncryptionKey.salt)).all() == [rows[0].salt]  # no second KEK


def test_a_wrong_passphrase_is_told_apart_from_an_altered_record(sessions: Callable[[], Session]) -> None:
    box = bind(SecretBox(PASSPHRASE), sessions)
    with pytest.raises(KeyStoreError, match=r"^wrong passphrase"):
        bind(SecretBox("another long passphrase"), sessions)
    token = box.seal(b"secret", context="c")
    for altered, context in ((_flip(token, 16 + 12 + 5), "c"), (token, "d")):
        with pytest.raises(KeyStoreError, match="altered or belongs to another record") as caught:
            bind(SecretBox(PASSPHRASE), sessions).open(altered, context=context)
        assert "wrong passphrase" not in str(caught.value)


def _legacy_rows(sessions: Callable[[], Session]) -> dict[str, bytes]:
    """An identity and two counterparties registered, then their sealed columns put back to bh1."""
    registry = Registry(sessions, BOX)
    key = SM2PrivateKey.generate()
    registry.add_identity("default", key)
    plain = {"own_key:default": key.to_bytes()}
    for n in range(2):
        peer = registry.add_counterparty(
            name=f"p{n}",
            role="platform",
            appid=f"BANK000{n}",
            appkey="k",
            appsecret=f"appsecret-{n}",
            public_key=SM2PrivateKey.generate().public_key,
        )
        plain[f"counterparty:{peer.id}:appsecret"] = f"appsecret-{n}".encode()
    with transaction(sessions) as session:
        session.execute(update(OwnKey).values(private_key_sealed=bh1_seal(key.to_bytes(), "own_key:default")))
        for context, secret in plain.items():
            if context.startswith("counterparty:"):
                session.execute(
                    update(Counterparty)
                    .where(Counterparty.id == context.split(":")[1])
                    .values(appsecret_sealed=bh1_seal(secret, context))
                )
    return plain


def _sealed(sessions: Callable[[], Session]) -> dict[str, str]:
    with sessions() as session:
        keys = {f"own_key:{k.name}": k.private_key_sealed for k in session.scalars(select(OwnKey))}
        return keys | {
            f"counterparty:{c.id}:appsecret": c.appsecret_sealed
            for c in session.scalars(select(Counterparty))
        }


def test_reseal_all_turns_every_bh1_row_into_bh2(sessions: Callable[[], Session]) -> None:
    plain = _legacy_rows(sessions)
    assert all(token.startswith("bh1$") for token in _sealed(sessions).values())
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        reseal_all(sessions, SecretBox("another long passphrase"))
    with sessions() as session:  # the wrong passphrase made no KEK that would lock the right one out
        assert session.scalars(select(KeyEncryptionKey)).all() == []
    box = reseal_all(sessions, SecretBox(PASSPHRASE))
    after = _sealed(sessions)
    assert all(token.startswith(box.sealing_prefix) for token in after.values())
    reader = SecretBox(PASSPHRASE)
    assert {context: reader.open(token, context=context) for context, token in after.items()} == plain
    reseal_all(sessions, SecretBox(PASSPHRASE))  # idempotent
    assert _sealed(sessions) == after


def test_opening_a_role_reseals_its_rows_and_refuses_a_wrong_passphrase(
    db_url: str, sessions: Callable[[], Session]
) -> None:
    plain = _legacy_rows(sessions)
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        open_runtime("issuer", db_url, SecretBox("another long passphrase"))
    assert all(token.startswith("bh1$") for token in _sealed(sessions).values())  # untouched
    runtime = open_runtime("issuer", db_url, SecretBox(PASSPHRASE))  # the rows hold a platform
    try:
        assert all(token.startswith("bh2$") for token in _sealed(sessions).values())
        peers = runtime.registry.peers()
        assert {p.channel.appsecret.encode() for p in peers} == {
            v for k, v in plain.items() if k.startswith("counterparty:")
        }
        assert runtime.registry.identity().key.to_bytes() == plain["own_key:default"]
    finally:
        runtime.stop()


def test_processes_starting_together_agree_on_one_kek(sessions: Callable[[], Session]) -> None:
    plain = _legacy_rows(sessions)
    boxes: list[SecretBox] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            boxes.append(reseal_all(sessions, SecretBox(PASSPHRASE)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(boxes) == 3
    assert len({box.sealing_prefix for box in boxes}) == 1
    with sessions() as session:
        assert len(session.scalars(select(KeyEncryptionKey)).all()) == 1
    after = _sealed(sessions)
    assert all(token.startswith(boxes[0].sealing_prefix) for token in after.values())
    assert {c: SecretBox(PASSPHRASE).open(t, context=c) for c, t in after.items()} == plain
