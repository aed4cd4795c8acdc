"""The hand-written SM2Cipher DER codec agrees with asn1crypto and accepts nothing but canonical DER."""

from __future__ import annotations

from asn1crypto import core
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm.ciphertext import der_to_native, native_to_der

P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF


class _SM2Cipher(core.Sequence):  # type: ignore[misc]  # GM/T 0009-2012 §7.2, as an independent reference
    _fields = [  # noqa: RUF012
        ("x", core.Integer),
        ("y", core.Integer),
        ("hash", core.OctetString),
        ("cipher_text", core.OctetString),
    ]


coordinate = st.one_of(
    st.integers(0, P - 1),
    st.integers(0, 2**16),  # short encodings
    st.integers(2**255, P - 1),  # a sign byte needed
)


def _reference(x: int, y: int, c3: bytes, c2: bytes) -> bytes:
    return bytes(_SM2Cipher({"x": x, "y": y, "hash": c3, "cipher_text": c2}).dump())


@given(coordinate, coordinate, st.binary(min_size=32, max_size=32), st.binary(max_size=70_000))
def test_encoding_matches_asn1crypto_and_round_trips(x: int, y: int, c3: bytes, c2: bytes) -> None:
    native = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3 + c2
    der = native_to_der(native)
    assert der == _reference(x, y, c3, c2)
    assert der_to_native(der) == native


@given(coordinate, coordinate, st.binary(min_size=32, max_size=32), st.binary(max_size=300), st.data())
def test_any_change_to_the_structure_is_refused_or_reads_as_asn1crypto_reads_it(
    x: int, y: int, c3: bytes, c2: bytes, data: st.DataObject
) -> None:
    der = bytearray(_reference(x, y, c3, c2))
    # Mutate only the framing region (tags, lengths, integers): C2's content is any bytes anyway.
    position = data.draw(st.integers(0, min(len(der), 110) - 1), label="position")
    der[position] = data.draw(st.integers(0, 255), label="byte")
    mutated = bytes(der)
    try:
        parsed = _SM2Cipher.load(mutated, strict=True)
        values = (
            int(parsed["x"].native),
            int(parsed["y"].native),
            parsed["hash"].native,
            parsed["cipher_text"].native,
        )
        canonical = _reference(*values) == mutated and 0 <= values[0] < P and 0 <= values[1] < P
        canonical = canonical and len(values[2]) == 32
    except (ValueError, TypeError, KeyError):
        canonical = False
    native = der_to_native(mutated)
    if canonical:
        assert (
            native
            == b"\x04" + values[0].to_bytes(32, "big") + values[1].to_bytes(32, "big") + values[2] + values[3]
        )
    else:
        assert native is None


def test_long_form_lengths_must_be_minimal() -> None:
    der = native_to_der(b"\x04" + bytes(64) + bytes(32) + b"m")
    # Re-encode C2's length 1 in the long form 0x81 0x01, and the outer length to match.
    body = der[2:]
    c2_at = body.rindex(b"\x04\x01m")
    longer = body[:c2_at] + b"\x04\x81\x01m"
    assert der_to_native(b"\x30" + bytes([len(longer)]) + longer) is None
    assert der_to_native(der + b"\x00") is None  # trailing bytes
    assert der_to_native(der[:-1]) is None  # truncated
