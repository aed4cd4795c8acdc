"""Errors raised by the GM crypto core; every one says what was wrong with which input."""


class GMError(ValueError):
    """Base class: a key, ciphertext, signature or certificate that cannot be used."""


class EncodingError(GMError):
    """Text that is not the hex or Base64 it claims to be."""


class InvalidKeyError(GMError):
    """A private scalar out of range, a point not on the curve, or an unreadable key file."""


class DecryptionError(GMError):
    """A ciphertext that does not decrypt: wrong key, wrong layout, corrupted or truncated."""


class CertificateError(GMError):
    """A certificate that cannot be read, or that does not verify against its issuer."""
