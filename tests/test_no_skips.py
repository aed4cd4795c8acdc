"""No test can skip: `make test` installs every peer, tool and sample a test needs, so one that is missing
fails (tests/peers.py ``missing``) rather than passing quietly as a skip, with CI=true or without."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SKIPS = re.compile(r"pytest\.skip\(|importorskip\(|mark\.skip(?:if)?\b|unittest\.skip|SkipTest|\.xfail\b")


def test_no_test_module_can_skip() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SKIPS.search(line)
    ]
    assert found == [], "a missing peer must fail, not skip:\n" + "\n".join(found)
