"""GM crypto speed: baohan.gm against pure-Python gmssl measured in the same run.

    .venv/bin/python bench/gm.py [--seconds 1.0]

Prints ops/s for SM2 sign, verify, encrypt and decrypt of 200 B and 2 KB, SM4-CBC and SM3 in MB/s, and the
ratios the foundation issue asks for: SM2 decrypt of 2 KB ≥ 20× gmssl, SM4-CBC ≥ 50 MB/s. Exits 1 if a
requirement is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

from gmssl import sm2 as gmssl_sm2
from gmssl import sm3 as gmssl_sm3
from gmssl import sm4 as gmssl_sm4

from baohan.gm import SM2PrivateKey, sm3, sm4_encrypt


def rate(fn: Callable[[], object], seconds: float, min_runs: int = 3) -> float:
    """Calls per second of ``fn``, timed for about ``seconds`` (at least ``min_runs`` calls)."""
    fn()  # warm up
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and runs >= min_runs:
            return runs / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    t = args.seconds

    key = SM2PrivateKey.generate()
    pub = key.public_key
    theirs = gmssl_sm2.CryptSM2(private_key=key.to_hex(), public_key=pub.to_hex("raw"), mode=1)
    rows: list[tuple[str, float, float]] = []
    for size in (200, 2048):
        msg = os.urandom(size)
        our_sig, our_ct = key.sign(msg, fmt="raw"), pub.encrypt(msg)
        their_sig = theirs.sign_with_sm3(msg)
        their_ct = theirs.encrypt(msg)
        assert theirs.verify_with_sm3(their_sig, msg) and theirs.decrypt(their_ct) == msg
        rows += [
            (
                f"SM2 sign {size} B",
                rate(lambda: key.sign(msg, fmt="raw"), t),
                rate(lambda: theirs.sign_with_sm3(msg), t),
            ),
            (
                f"SM2 verify {size} B",
                rate(lambda: pub.verify(msg, our_sig, fmt="raw"), t),
                rate(lambda: theirs.verify_with_sm3(their_sig, msg), t),
            ),
            (
                f"SM2 encrypt {size} B",
                rate(lambda: pub.encrypt(msg), t),
                rate(lambda: theirs.encrypt(msg), t),
            ),
            (
                f"SM2 decrypt {size} B",
                rate(lambda: key.decrypt(our_ct), t),
                rate(lambda: theirs.decrypt(their_ct), t),
            ),
        ]

    big, small = os.urandom(64 * 1024 * 1024), os.urandom(256 * 1024)
    sm4_key, iv = os.urandom(16), os.urandom(16)
    their_sm4 = gmssl_sm4.CryptSM4()
    their_sm4.set_key(sm4_key, gmssl_sm4.SM4_ENCRYPT)
    mb = 1024 * 1024
    sm4_ours = rate(lambda: sm4_encrypt(sm4_key, big, "cbc", iv), t) * len(big) / mb
    sm4_theirs = rate(lambda: their_sm4.crypt_cbc(iv, small), t) * len(small) / mb
    sm3_ours = rate(lambda: sm3(big), t) * len(big) / mb
    sm3_theirs = rate(lambda: gmssl_sm3.sm3_hash(list(small)), t) * len(small) / mb

    print(f"{'operation':<22}{'baohan.gm':>14}{'gmssl (baseline)':>18}{'ratio':>10}")
    for name, ours, base in rows:
        print(f"{name:<22}{ours:>10.0f} op/s{base:>13.1f} op/s{ours / base:>9.1f}x")
    print(
        f"{'SM4-CBC 64 MiB':<22}{sm4_ours:>9.1f} MB/s{sm4_theirs:>13.2f} MB/s{sm4_ours / sm4_theirs:>9.0f}x"
    )
    print(f"{'SM3 64 MiB':<22}{sm3_ours:>9.1f} MB/s{sm3_theirs:>13.2f} MB/s{sm3_ours / sm3_theirs:>9.0f}x")

    decrypt_ratio = next(o / b for n, o, b in rows if n == "SM2 decrypt 2048 B")
    checks = [
        (f"SM2 decrypt 2 KB: {decrypt_ratio:.1f}x gmssl (need >= 20x)", decrypt_ratio >= 20),
        (f"SM4-CBC: {sm4_ours:.1f} MB/s (need >= 50 MB/s)", sm4_ours >= 50),
    ]
    for text, passed in checks:
        print(("PASS  " if passed else "FAIL  ") + text)
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
