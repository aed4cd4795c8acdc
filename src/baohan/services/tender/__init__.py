"""Tender use cases (spec 004): its registry and stores, and on them the issuer and the platform roles."""
