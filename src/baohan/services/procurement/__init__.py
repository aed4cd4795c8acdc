"""Procurement use cases: the issuer and the platform roles over one unit of work each."""
