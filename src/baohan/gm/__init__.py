"""GM (国密) crypto core: SM2, SM3, SM4, digital envelopes and SM2 certificates. No I/O, no app imports."""

from baohan.gm import oids as _oids  # noqa: F401 - registers the GM OIDs with asn1crypto first
from baohan.gm.certificates import CertificateInfo, SM2Certificate, issue_certificate, make_ca, parse_name
from baohan.gm.ciphertext import Layout
from baohan.gm.envelope import Envelope, open_envelope, open_key, seal
from baohan.gm.errors import CertificateError, DecryptionError, EncodingError, GMError, InvalidKeyError
from baohan.gm.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey
from baohan.gm.sm3 import SM3Hasher, hmac_sm3, sm3, sm3_hex, sm3_stream
from baohan.gm.sm4 import (
    SM4CBCParallelDecryptor,
    SM4Decryptor,
    SM4Encryptor,
    SM4Mode,
    sm4_decrypt,
    sm4_decrypt_stream,
    sm4_encrypt,
    sm4_encrypt_stream,
)

__all__ = [
    "DEFAULT_UID",
    "CertificateError",
    "CertificateInfo",
    "DecryptionError",
    "EncodingError",
    "Envelope",
    "GMError",
    "InvalidKeyError",
    "Layout",
    "SM2Certificate",
    "SM2PrivateKey",
    "SM2PublicKey",
    "SM3Hasher",
    "SM4CBCParallelDecryptor",
    "SM4Decryptor",
    "SM4Encryptor",
    "SM4Mode",
    "hmac_sm3",
    "issue_certificate",
    "make_ca",
    "open_envelope",
    "open_key",
    "parse_name",
    "seal",
    "sm3",
    "sm3_hex",
    "sm3_stream",
    "sm4_decrypt",
    "sm4_decrypt_stream",
    "sm4_encrypt",
    "sm4_encrypt_stream",
]
