"""Where the letter's font and words come from: ``$BAOHAN_FONT`` or fontconfig, and a Jinja2 template an
institution can replace with its own (``$BAOHAN_LETTER_TEMPLATE``)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from baohan.adapters.documents.letter import (
    FONT_ENV,
    TEMPLATE_ENV,
    FontChoice,
    FontNotFoundError,
    LetterTemplateError,
    check_letter_setup,
    find_cjk_font,
    render_letter_pdf,
)
from tests.documents.test_letter_and_signature import LETTER, _squeeze, page_text


@pytest.fixture
def system_font() -> FontChoice:
    """The CJK font fontconfig finds on this machine (make test installs one)."""
    return find_cjk_font()


def fake_fc_list(folder: Path, lines: str) -> str:
    """A PATH whose only fc-list prints ``lines`` (as ``fc-list :lang=zh-cn -f …`` would)."""
    folder.mkdir(exist_ok=True)
    script = folder / "fc-list"
    script.write_text(f"#!/bin/sh\nprintf '%b' '{lines}'\n")
    script.chmod(0o755)
    return str(folder)


def test_fontconfig_finds_a_truetype_chinese_face(system_font: FontChoice) -> None:
    assert system_font.path.is_file()
    listing = subprocess.run(
        ["fc-list", ":lang=zh-cn", "file"], capture_output=True, text=True, check=True
    ).stdout
    assert str(system_font.path) in listing  # from fontconfig, not a fixed path


def test_fontconfig_choice_skips_cff_faces_and_prefers_zen_hei(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system_font: FontChoice
) -> None:
    monkeypatch.delenv(FONT_ENV, raising=False)
    real = system_font.path
    lines = (
        "CFF\\t0\\tNoto Sans CJK SC\\t/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc\\n"
        f"TrueType\\t1\\tWenQuanYi Zen Hei Mono\\t{real}\\n"
        f"TrueType\\t0\\tWenQuanYi Zen Hei\\t{real}\\n"
    )
    monkeypatch.setenv("PATH", fake_fc_list(tmp_path / "bin", lines))
    assert find_cjk_font() == FontChoice(real, 0)


def test_baohan_font_wins_over_fontconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, system_font: FontChoice
) -> None:
    copy = tmp_path / "institution-font.ttc"
    copy.write_bytes(system_font.path.read_bytes())
    monkeypatch.setenv(FONT_ENV, str(copy))
    assert find_cjk_font() == FontChoice(copy)
    assert _squeeze(LETTER.principal_name) in _squeeze(page_text(render_letter_pdf(LETTER)))


def test_a_baohan_font_that_is_not_there_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "nope.ttf"))
    with pytest.raises(FontNotFoundError, match=f"{FONT_ENV}=.*nope.ttf is not a font file"):
        find_cjk_font()


@pytest.mark.parametrize("listing", ["", None], ids=["fontconfig lists none", "no fontconfig"])
def test_no_font_anywhere_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listing: str | None
) -> None:
    monkeypatch.delenv(FONT_ENV, raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", fake_fc_list(tmp_path / "bin", listing) if listing is not None else str(empty))
    with pytest.raises(FontNotFoundError) as caught:
        render_letter_pdf(LETTER)
    message = str(caught.value)
    assert "no font with Chinese glyphs" in message
    assert FONT_ENV in message and "fc-list :lang=zh-cn" in message and "fonts-wqy-zenhei" in message


@pytest.mark.parametrize(
    "command",
    [
        ["demo", "procurement", "--out", "demo"],
        ["serve", "procurement", "--role", "issuer", "--db", "sqlite:///never-made.db"],
    ],
)
def test_the_demo_and_an_issuer_server_name_a_missing_font_at_once(
    tmp_path: Path, command: list[str]
) -> None:
    env = {**os.environ, FONT_ENV: str(tmp_path / "missing.ttc"), "BAOHAN_ADMIN_TOKEN": "t" * 24}
    result = subprocess.run(
        [sys.executable, "-m", "baohan.cli.main", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {FONT_ENV}=") and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "never-made.db").exists()


def test_make_demo_checks_the_font_before_it_starts(tmp_path: Path) -> None:
    """scripts/demo.sh (what `make demo` runs) asks baohan's own lookup first; a font the operator named
    but that is not there is reported, and nothing is installed in its place."""
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "demo.sh").write_bytes((root / "scripts" / "demo.sh").read_bytes())
    (tmp_path / ".venv").symlink_to(sys.prefix)
    env = {**os.environ, FONT_ENV: str(tmp_path / "missing.ttc"), "PYTHONPATH": str(root / "src")}
    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "demo.sh")], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith(f"demo: {FONT_ENV}=") and "fonts-wqy-zenhei" in result.stderr
    assert result.stdout == "" and not (tmp_path / "demo-output").exists()


# --- the template ---------------------------------------------------------------------------------------

CUSTOM = """{# 某银行的保函格式 #}
[title] 银行{{ kind }}

[body] 本行（{{ issuer_name }}）为{{ principal_name }}担保人民币{{ amount|capitals }}，
有效期至{{ valid_to|day }}。

[footer] 第1页 {{ guarantee_no }}
"""


def test_an_institution_words_its_own_letter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "our-letter.j2"
    own.write_text(CUSTOM, encoding="utf-8")
    monkeypatch.setenv(TEMPLATE_ENV, str(own))
    text = _squeeze(page_text(render_letter_pdf(LETTER)))
    assert _squeeze(f"银行{LETTER.kind}") in text
    assert (
        _squeeze(f"本行（{LETTER.issuer_name}）为{LETTER.principal_name}担保人民币壹拾贰万伍仟元整") in text
    )
    assert _squeeze(f"第1页 {LETTER.guarantee_no}") in text
    assert "见索即付" not in text  # the shipped wording is gone
    check_letter_setup()


def test_the_shipped_template_escapes_values() -> None:
    pdf = render_letter_pdf(replace(LETTER, principal_name="\"A&B\" <有限> '公司'"))
    assert "\"A&B\"<有限>'公司'" in _squeeze(page_text(pdf))


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("[body] {{ supplier }}", "'supplier' is undefined"),
        ("[body] {% if %}", "letter template"),
        ("[headline] x", r"unknown style \[headline\]"),
        ("no style here", r"must start with \[style\]"),
    ],
)
def test_a_bad_template_is_one_clear_error(tmp_path: Path, template: str, problem: str) -> None:
    own = tmp_path / "bad.j2"
    own.write_text(template, encoding="utf-8")
    with pytest.raises(LetterTemplateError, match=problem):
        check_letter_setup(own)


def test_a_missing_template_is_named(tmp_path: Path) -> None:
    with pytest.raises(LetterTemplateError, match=r"nope\.j2"):
        check_letter_setup(tmp_path / "nope.j2")
