"""`make test` runs bandit, and every finding it is told to accept says why where it is accepted."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_test_runs_bandit_on_the_sources() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = re.search(r"^test:(.*)$", makefile, re.MULTILINE)
    assert test_target is not None and "security" in test_target.group(1).split()
    assert re.search(r"^security:.*\n\t\$\(BIN\)/bandit .*-c pyproject\.toml -r src$", makefile, re.MULTILINE)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"bandit[toml]' in pyproject and "[tool.bandit]" in pyproject


def test_every_nosec_names_its_check_and_gives_a_reason() -> None:
    marked = [
        (path, line)
        for path in (ROOT / "src").rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if "nosec" in line
    ]
    assert marked  # SM4-ECB at least: the protocols mandate it for the envelope
    for path, line in marked:
        comment = line[line.index("#") :]
        assert re.search(r"# nosec B\d{3}$", comment), f"{path}: nosec without its check id: {line.strip()}"
        reason = comment[: comment.index("# nosec")].replace("#", "").replace("noqa:", "")
        assert re.search(r"[a-z]{3,}.*[a-z]{3,}", reason), f"{path}: nosec without a reason: {line.strip()}"
