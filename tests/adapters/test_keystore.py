"""Secrets at rest: sealed under the passphrase, bound to their record, never readable without it."""

from __future__ import annotations

import pytest

from baohan.adapters.keystore import PASSPHRASE_ENV, KeyStoreError, SecretBox
from baohan.gm import SM2PrivateKey

BOX = SecretBox("correct horse battery staple")


def test_round_trip_and_the_plaintext_is_not_in_the_sealed_form() -> None:
    key = SM2PrivateKey.generate()
    token = BOX.seal(key.to_bytes(), context="own_key:issuer")
    assert token.startswith("bh1$")
    assert key.to_hex() not in token and key.to_hex().upper() not in token
    assert BOX.open(token, context="own_key:issuer") == key.to_bytes()
    assert BOX.seal(b"x", context="c") != BOX.seal(b"x", context="c")  # fresh salt and nonce


def test_wrong_passphrase_is_refused() -> None:
    token = BOX.seal(b"appsecret", context="counterparty:BANK1:appsecret")
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        SecretBox("another long passphrase").open(token, context="counterparty:BANK1:appsecret")


def test_a_secret_copied_to_another_record_does_not_open() -> None:
    token = BOX.seal(b"appsecret", context="counterparty:BANK1:appsecret")
    with pytest.raises(KeyStoreError):
        BOX.open(token, context="counterparty:BANK2:appsecret")


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-4] + "AAAA", lambda t: t[:20], lambda t: "plain", lambda t: "bh1$!!"]
)
def test_tampered_or_foreign_tokens_are_refused(mangle: object) -> None:
    token = BOX.seal(b"secret", context="c")
    with pytest.raises(KeyStoreError):
        BOX.open(mangle(token), context="c")  # type: ignore[operator]


def test_passphrase_comes_from_the_environment_and_must_be_strong() -> None:
    with pytest.raises(KeyStoreError, match=PASSPHRASE_ENV):
        SecretBox.from_env({})
    with pytest.raises(KeyStoreError, match="at least 12"):
        SecretBox.from_env({PASSPHRASE_ENV: "short"})
    box = SecretBox.from_env({PASSPHRASE_ENV: "a sufficiently long one"})
    assert box.open(box.seal(b"k", context="c"), context="c") == b"k"


def test_repr_hides_the_passphrase() -> None:
    assert "horse" not in repr(BOX)
