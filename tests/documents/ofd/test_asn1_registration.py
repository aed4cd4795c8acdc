"""Teaching asn1crypto the GM content types must not break CMS for everyone else in the process (pyhanko
signs our PDF letters with the same classes)."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter: asn1crypto sets a class up once, at its first instance, so the order matters.
SCRIPT = """
from asn1crypto import cms
cms.ContentType("signed_data")  # made before our modules are imported, as pyhanko may
import baohan.gm.oids, baohan.adapters.documents.ofd.signed_data
assert cms.ContentType("signed_data").dotted == "1.2.840.113549.1.7.2"
assert cms.ContentType("gm_signed_data").dotted == "1.2.156.10197.6.1.4.2.2"
from asn1crypto import algos
assert algos.DigestAlgorithmId("sm3").dotted == "1.2.156.10197.1.401"
"""


def test_registering_gm_oids_after_asn1crypto_was_used_keeps_every_name() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
