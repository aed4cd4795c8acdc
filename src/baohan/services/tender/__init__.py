"""Tender use cases: the issuer and the platform roles of spec 004."""
