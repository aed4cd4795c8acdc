"""Guarantee documents: PDF letters, their SM2 signatures and verification."""
