"""Digital envelope (spec 000 §9.3.3): seal/open in every layout and SM4 mode, peers' hex keys, tampering."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import DecryptionError, Envelope, Layout, SM2PrivateKey, open_envelope, seal, sm4_encrypt

KEY = SM2PrivateKey.generate()


@given(
    st.binary(max_size=20000), st.sampled_from(list(Layout)), st.booleans(), st.sampled_from(["ecb", "cbc"])
)
def test_seal_open_round_trip(payload: bytes, layout: Layout, prefix: bool, mode: str) -> None:
    env = seal(payload, KEY.public_key, layout=layout, prefix=prefix, sm4_mode=mode)
    assert open_envelope(env, KEY, sm4_mode=mode) == payload
    assert open_envelope(env, KEY, layout=layout, sm4_mode=mode) == payload


def test_each_seal_uses_a_fresh_key() -> None:
    a, b = seal(b"same", KEY.public_key), seal(b"same", KEY.public_key)
    assert a.data != b.data and a.sealed_key != b.sealed_key


def test_ecb_data_is_sm4_of_the_payload_under_the_sealed_key() -> None:
    payload = json.dumps({"guaranteeFileName": "保函.pdf"}, ensure_ascii=False).encode()
    env = seal(payload, KEY.public_key)
    key = KEY.decrypt(env.sealed_key)
    assert len(key) == 16
    assert env.data == sm4_encrypt(key, payload)


def test_cbc_carries_its_iv_first() -> None:
    env = seal(b"x" * 33, KEY.public_key, sm4_mode="cbc")
    key = KEY.decrypt(env.sealed_key)
    assert env.data[16:] == sm4_encrypt(key, b"x" * 33, "cbc", env.data[:16])


def test_a_key_sealed_as_hex_text_opens_too() -> None:
    # Java peers often seal the key's 32-character hex string instead of its 16 bytes.
    key = bytes(range(16))
    env = Envelope(data=sm4_encrypt(key, b"payload"), sealed_key=KEY.public_key.encrypt(key.hex().encode()))
    assert open_envelope(env, KEY) == b"payload"


def test_wrong_recipient_is_refused() -> None:
    env = seal(b"payload", KEY.public_key)
    with pytest.raises(DecryptionError):
        open_envelope(env, SM2PrivateKey.generate())


def test_tampered_data_is_refused_or_changes() -> None:
    env = seal(b"payload" * 3, KEY.public_key)
    tampered = Envelope(data=env.data[:-1] + bytes([env.data[-1] ^ 0xFF]), sealed_key=env.sealed_key)
    with pytest.raises(DecryptionError, match="padding"):
        open_envelope(tampered, KEY)


def test_sealed_key_of_the_wrong_size_is_refused() -> None:
    env = Envelope(data=b"\0" * 16, sealed_key=KEY.public_key.encrypt(b"seven b"))
    with pytest.raises(DecryptionError, match="16 bytes"):
        open_envelope(env, KEY)


def test_short_cbc_data_is_refused() -> None:
    env = seal(b"", KEY.public_key, sm4_mode="cbc")
    with pytest.raises(DecryptionError, match="too short"):
        open_envelope(Envelope(data=env.data[:20], sealed_key=env.sealed_key), KEY, sm4_mode="cbc")
