"""SM2: GB/T 32918.5 vectors, key formats, range and curve checks, round trips in every layout, tampering."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.gm import DecryptionError, GMError, InvalidKeyError, Layout, SM2PrivateKey, SM2PublicKey, _backend
from baohan.gm.ciphertext import der_to_native, from_native
from baohan.gm.signature import raw_to_der

# GB/T 32918.5-2017 Annex A (recommended curve): d, its public key, the nonce k, and the results.
D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
PUB = (
    "0409F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
K = bytes.fromhex("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
SIG_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
SIG_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
CT_C1 = (
    "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
)
CT_C3 = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
CT_C2 = "21886CA989CA9C7D58087307CA93092D651EFA"
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

KEY = SM2PrivateKey.generate()
LAYOUTS = [
    (Layout.C1C3C2, True),
    (Layout.C1C3C2, False),
    (Layout.C1C2C3, True),
    (Layout.C1C2C3, False),
    (Layout.ASN1, True),
]


class TestStandardVectors:
    def test_public_key_of_the_example_private_key(self) -> None:
        assert SM2PrivateKey(D).public_key.to_hex() == PUB.lower()

    def test_signature_example(self) -> None:
        raw = _backend.sign(D, b"message digest", b"1234567812345678", _k=K)
        assert raw.hex().upper() == SIG_R + SIG_S
        assert SM2PublicKey.load(PUB).verify(b"message digest", raw_to_der(raw))

    def test_encryption_example(self) -> None:
        native = _backend.encrypt(bytes.fromhex(PUB), b"encryption standard", _k=K)
        assert native.hex().upper() == "04" + CT_C1 + CT_C3 + CT_C2
        assert SM2PrivateKey(D).decrypt(native) == b"encryption standard"

    def test_example_ciphertext_in_every_layout_decrypts(self) -> None:
        native = bytes.fromhex("04" + CT_C1 + CT_C3 + CT_C2)
        c1c2c3 = bytes.fromhex(CT_C1 + CT_C2 + CT_C3)
        assert from_native(native, "c1c2c3", prefix=False) == c1c2c3
        for layout, prefix in LAYOUTS:
            blob = from_native(native, layout, prefix)
            assert SM2PrivateKey(D).decrypt(blob) == b"encryption standard"
            assert SM2PrivateKey(D).decrypt(blob, layout=layout) == b"encryption standard"


class TestKeys:
    def test_private_key_formats_round_trip(self) -> None:
        key = SM2PrivateKey.generate()
        forms: list[str | bytes] = [
            key.to_hex(),
            key.to_hex().upper(),
            "0x" + key.to_hex(),
            base64.b64encode(key.to_bytes()).decode(),
            key.to_bytes(),
            key.to_pem(),
            key.to_pem("sec1"),
            key.to_der(),
            key.to_der("sec1"),
            base64.b64encode(key.to_der()).decode(),
            key.to_pem().encode(),
        ]
        for form in forms:
            assert SM2PrivateKey.load(form) == key, form

    def test_short_hex_private_key_is_left_padded(self) -> None:
        # Java's BigInteger.toString(16) drops leading zeros; such keys must still load.
        assert SM2PrivateKey.load("01").to_bytes() == bytes(31) + b"\x01"

    def test_public_key_formats_round_trip(self) -> None:
        pub = SM2PrivateKey.generate().public_key
        forms: list[str | bytes] = [
            pub.to_hex(),
            pub.to_hex("raw"),
            pub.to_hex("compressed"),
            pub.to_hex().upper(),
            base64.b64encode(pub.to_bytes()).decode(),
            base64.b64encode(pub.to_bytes("raw")).decode(),
            pub.to_pem(),
            pub.to_der(),
            base64.b64encode(pub.to_der()).decode(),
            pub.to_bytes("compressed"),
        ]
        for form in forms:
            assert SM2PublicKey.load(form) == pub, form

    def test_public_key_is_derived_from_private(self) -> None:
        key = SM2PrivateKey.generate()
        assert SM2PrivateKey.load(key.to_hex()).public_key == key.public_key

    @pytest.mark.parametrize("scalar", [0, N - 1, N, N + 1, 2**256 - 1])
    def test_private_scalars_out_of_range_are_refused(self, scalar: int) -> None:
        with pytest.raises(InvalidKeyError, match="out of range"):
            SM2PrivateKey(scalar.to_bytes(32, "big"))
        with pytest.raises(InvalidKeyError):
            SM2PrivateKey.load(format(scalar, "064x"))

    def test_largest_valid_scalar_is_accepted(self) -> None:
        assert SM2PrivateKey((N - 2).to_bytes(32, "big")).public_key is not None

    def test_point_not_on_the_curve_is_refused(self) -> None:
        point = bytearray(bytes.fromhex(PUB))
        point[-1] ^= 1
        with pytest.raises(InvalidKeyError, match="not a point on the SM2 curve"):
            SM2PublicKey(bytes(point))
        with pytest.raises(InvalidKeyError):
            SM2PublicKey.load(bytes(point).hex())

    @pytest.mark.parametrize("text", ["", "zz", "04" + "00" * 64, "not a key at all!", "-----BEGIN FOO-----"])
    def test_garbage_public_keys_are_refused(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"\w"):
            SM2PublicKey.load(text)

    def test_non_sm2_curve_keys_are_refused(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        p256 = ec.generate_private_key(ec.SECP256R1())
        der = p256.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with pytest.raises(InvalidKeyError, match="not on the SM2 curve"):
            SM2PrivateKey.load(der)
        spki = p256.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        with pytest.raises(InvalidKeyError, match="not on the SM2 curve"):
            SM2PublicKey.load(spki)

    def test_repr_never_shows_the_secret(self) -> None:
        key = SM2PrivateKey.generate()
        assert key.to_hex() not in repr(key) and key.to_hex() not in str(key)


class TestSignatures:
    @given(st.binary(max_size=65536), st.text(min_size=1, max_size=40), st.booleans())
    def test_sign_verify_round_trip(self, message: bytes, uid: str, raw: bool) -> None:
        sig = KEY.sign(message, uid=uid, fmt="raw" if raw else "der")
        assert len(sig) == 64 if raw else sig[0] == 0x30
        assert KEY.public_key.verify(message, sig, uid=uid)
        assert not KEY.public_key.verify(message + b"x", sig, uid=uid)
        assert not KEY.public_key.verify(message, sig, uid=uid + "x")

    def test_default_uid_is_the_standard_one(self) -> None:
        sig = KEY.sign(b"m")
        assert KEY.public_key.verify(b"m", sig, uid=b"1234567812345678")

    def test_another_key_does_not_verify(self) -> None:
        assert not SM2PrivateKey.generate().public_key.verify(b"m", KEY.sign(b"m"))

    @pytest.mark.parametrize("fmt", ["der", "raw"])
    def test_every_single_bit_flip_of_a_signature_is_refused(self, fmt: str) -> None:
        message = b'{"applicationId":"A-1"}'
        sig = KEY.sign(message, fmt=fmt)  # type: ignore[arg-type]
        for bit in range(len(sig) * 8):
            tampered = bytearray(sig)
            tampered[bit // 8] ^= 1 << (bit % 8)
            assert not KEY.public_key.verify(message, bytes(tampered)), f"bit {bit} flip accepted"

    def test_non_canonical_der_is_refused(self) -> None:
        sig = KEY.sign(b"m")
        padded = bytearray(sig)
        # Re-encode r with a superfluous leading zero: same numbers, non-minimal DER.
        r_len = padded[3]
        bloated = bytes([0x30, padded[1] + 1, 0x02, r_len + 1, 0x00]) + bytes(padded[4:])
        assert not KEY.public_key.verify(b"m", bloated)
        assert not KEY.public_key.verify(b"m", sig + b"\x00")


class TestEncryption:
    @given(st.binary(min_size=1, max_size=65536), st.sampled_from(LAYOUTS))
    def test_round_trip_any_length_any_layout(self, message: bytes, layout: tuple[Layout, bool]) -> None:
        ct = KEY.public_key.encrypt(message, layout=layout[0], prefix=layout[1])
        assert KEY.decrypt(ct) == message
        assert KEY.decrypt(ct, layout=layout[0]) == message

    def test_sixty_four_kilobyte_json_message(self) -> None:
        message = ('{"data":"' + "保函" * 32760 + '"}').encode()
        assert len(message) > 64 * 1024
        assert KEY.decrypt(KEY.public_key.encrypt(message)) == message

    def test_one_byte_messages_always_decrypt_and_never_travel_in_clear(self) -> None:
        # One nonce in 256 makes the KDF output t for a 1-byte message all zeros. Tongsuo then emits C2 = M
        # (the message in clear) and our decryption refuses that form (B4); we must draw again (GB/T 32918.4
        # A5). 2,000 tries hit that case ~8 times.
        key = SM2PrivateKey.generate()
        for _ in range(2000):
            ciphertext = key.public_key.encrypt(b",")
            assert ciphertext[97:] != b","
            assert key.decrypt(ciphertext) == b","

    def test_a_ciphertext_with_an_all_zero_kdf_output_is_refused(self) -> None:
        # GB/T 32918.4 B4. Ask Tongsuo directly (below our A5 check) until it produces C2 = M.
        key = SM2PrivateKey.generate()
        raw_encrypt = _backend.Encryptor(key.public_key.to_bytes())._encrypt
        for _ in range(20_000):
            der = raw_encrypt(b"!")
            assert der is not None
            native = der_to_native(der)
            assert native is not None
            if native[97:] == b"!":
                break
        else:  # pragma: no cover - 20,000 tries without one would be a 1-in-1e34 event
            pytest.fail("Tongsuo never produced an all-zero KDF output")
        assert _backend.Decryptor(key.to_bytes()).decrypt(native) is None
        with pytest.raises(DecryptionError, match="C3"):
            key.decrypt(native)

    def test_an_all_zero_kdf_output_is_never_emitted_with_a_fixed_nonce(self) -> None:
        # Find a nonce for which the backend itself returns the broken form, then check we refuse it.
        key = SM2PrivateKey.generate()
        point = key.public_key.to_bytes()
        from gmalglib.sm2 import SM2

        for i in range(1, 5000):
            k = i.to_bytes(32, "big")
            if SM2(pk=point, rnd_fn=lambda n, k=k: k[::-1][:n]).encrypt(b",")[65:97] == bytes(32):
                break
        else:  # pragma: no cover - 5000 nonces without one would be a 1-in-3e8 event
            pytest.fail("no nonce with an all-zero KDF output found")
        with pytest.raises(ValueError, match="all-zero KDF output"):
            _backend.encrypt(point, b",", _k=k)

    def test_empty_message_is_refused_both_ways_with_the_reason(self) -> None:
        with pytest.raises(GMError, match="empty message"):
            KEY.public_key.encrypt(b"")
        # What sm-crypto produces for an empty message: C1 and C3 with no C2.
        from gmalglib.sm2 import SM2

        native = SM2(pk=KEY.public_key.to_bytes()).encrypt(b"")
        for layout, prefix in LAYOUTS:
            with pytest.raises(DecryptionError, match="empty message"):
                KEY.decrypt(from_native(native, layout, prefix))

    def test_layout_sizes(self) -> None:
        msg = b"x" * 10
        assert len(KEY.public_key.encrypt(msg)) == 65 + 32 + 10
        assert len(KEY.public_key.encrypt(msg, prefix=False)) == 64 + 32 + 10
        assert KEY.public_key.encrypt(msg, layout="asn1")[0] == 0x30

    def test_wrong_explicit_layout_is_refused(self) -> None:
        ct = KEY.public_key.encrypt(b"secret", layout="c1c2c3")
        with pytest.raises(DecryptionError, match="C3"):
            KEY.decrypt(ct, layout="c1c3c2")

    def test_wrong_key_is_refused(self) -> None:
        with pytest.raises(DecryptionError, match="C3 digest"):
            SM2PrivateKey.generate().decrypt(KEY.public_key.encrypt(b"secret"))

    @pytest.mark.parametrize("blob", [b"", b"\x04", os.urandom(95), b"\x30\x03\x02\x01\x01"])
    def test_too_short_or_malformed_is_refused(self, blob: bytes) -> None:
        with pytest.raises(DecryptionError):
            KEY.decrypt(blob)

    @pytest.mark.parametrize(("layout", "prefix"), LAYOUTS)
    def test_every_single_bit_flip_of_a_ciphertext_is_refused(self, layout: Layout, prefix: bool) -> None:
        ct = KEY.public_key.encrypt(b"performance bond 1000.00", layout=layout, prefix=prefix)
        for bit in range(len(ct) * 8):
            tampered = bytearray(ct)
            tampered[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(DecryptionError):
                KEY.decrypt(bytes(tampered))

    @given(st.binary(min_size=1, max_size=65536), st.sampled_from(LAYOUTS), st.integers(min_value=0))
    def test_random_bit_flips_in_large_ciphertexts_are_refused(
        self, message: bytes, layout: tuple[Layout, bool], where: int
    ) -> None:
        ct = bytearray(KEY.public_key.encrypt(message, layout=layout[0], prefix=layout[1]))
        # The DER length varies with C1 from run to run, so the bit is drawn independently of it (a draw
        # bounded by the length would make Hypothesis's replay flaky).
        bit = where % (len(ct) * 8)
        ct[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(DecryptionError):
            KEY.decrypt(bytes(ct))
