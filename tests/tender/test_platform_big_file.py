"""A 20 MB guarantee through the platform: its 1 MiB slices decrypted streaming into the file store, the
OFD then read once, whole, for its verification: up to the verifier, memory holds the file once and a
slice or two, never the ciphertext and the plaintext whole side by side. (The OFD verifier then unpacks
the package's parts; what it needs is its own and is not measured here.)"""

from __future__ import annotations

import os
import tracemalloc
from typing import Any

import pytest

from baohan.adapters.documents.ofd import OfdCheck, verify_ofd
from baohan.adapters.documents.tender_guarantee import SignedAgreement, sealed_guarantee
from baohan.services.tender import reception
from tests.tender.platform_kit import (
    BIDDER_CERT,
    BIDDER_KEY,
    SEAL,
    approved,
    completion,
    encrypt,
    guarantee_facts,
    platform,
    upload,
)

MB = 1 << 20


def test_a_20_mb_guarantee_is_never_whole_in_memory_twice(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    peaks: list[int] = []

    def measured(data: bytes, **kwargs: Any) -> OfdCheck:
        peaks.append(tracemalloc.get_traced_memory()[1])  # the peak from the notice's arrival up to here
        return verify_ofd(data, **kwargs)

    monkeypatch.setattr(reception, "verify_ofd", measured)
    with platform(db_url, slice_size=MB) as p:
        _, applyno, baohanno = approved(p)
        payload = os.urandom(20 * MB)  # random: the OFD cannot compress it
        agreement = SignedAgreement("agreement.bin", payload, BIDDER_KEY.sign(payload), BIDDER_CERT)
        ofd = sealed_guarantee(guarantee_facts(p, applyno, baohanno), agreement, SEAL)
        del payload, agreement
        file = encrypt(ofd, slice_size=MB)
        size = len(ofd)
        del ofd
        upload(p, applyno, baohanno, file, order=range(1, len(file.slices) + 1))
        fields = completion(applyno, baohanno, file)
        del file
        tracemalloc.start()
        try:
            p.institution.call("baohanfilecompletenotice", **fields)
        finally:
            tracemalloc.stop()
        assert p.role.application(applyno).stage == "sealed_completed"
        (peak,) = peaks
        assert peak < size + 8 * MB, f"peak {peak / MB:.1f} MiB for a {size / MB:.1f} MiB file"
