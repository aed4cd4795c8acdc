"""What the README, LICENSE and CHANGELOG claim is held against the code."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from baohan.protocols.procurement.codes import MESSAGES, Code

ROOT = Path(__file__).resolve().parents[1]
READMES = ("README.md", "README.zh-CN.md")


def test_license_is_the_full_apache_2_text_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "Apache-2.0"
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text and "9. Accepting Warranty or Additional Liability." in text


def test_changelog_has_the_unreleased_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"## Unreleased ({version})" in (ROOT / "CHANGELOG.md").read_text()


def test_the_docs_say_both_protocols_work_and_what_tender_lacks() -> None:
    description = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["description"]
    assert "procurement" in description and "tender" in description
    shown = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "procurement and tender protocols" in " ".join(shown.split())
    readme = (ROOT / "README.md").read_text()
    opening = " ".join(readme[: readme.index("## What is here now")].split())
    assert "It speaks two protocols" in opening and "Not yet done for the tender protocol" in opening
    coming = readme[readme.index("## What is coming") :]
    assert "bench/tender_files.py" in coming[: coming.index("\n## ")]


@pytest.mark.parametrize("readme", READMES)
def test_the_readmes_link_each_other(readme: str) -> None:
    other = READMES[1 - READMES.index(readme)]
    assert f"]({other})" in (ROOT / readme).read_text().splitlines()[2]


@pytest.mark.parametrize("readme", READMES)
def test_the_error_table_lists_every_code_with_the_spec_text(readme: str) -> None:
    text = (ROOT / readme).read_text()
    rows = dict(re.findall(r"^\| `(\d{3})` \| ([^|]+) \|", text, re.MULTILINE))
    assert rows == {code.value: MESSAGES[code] for code in Code}


def _command_blocks(readme: str) -> list[str]:
    """The readme's ``sh`` blocks with comments dropped: the commands, whatever language explains them."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (ROOT / readme).read_text(), re.MULTILINE | re.DOTALL)
    strip = [re.sub(r"\s+# .*$", "", line) for block in blocks for line in ["\x00", *block.splitlines()]]
    text = "\n".join(line for line in strip if not line.startswith("#"))
    return [block.strip() for block in text.split("\x00") if block.strip()]


def test_the_chinese_readme_runs_the_same_commands_as_the_english() -> None:
    english = _command_blocks("README.md")
    chinese = _command_blocks("README.zh-CN.md")
    assert len(chinese) >= 4
    assert [block for block in chinese if block not in english] == []
