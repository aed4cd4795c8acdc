"""Where the CJK font for documents is: ``$BAOHAN_FONT`` if set, else a TrueType face with Chinese glyphs
that fontconfig lists. Never a fixed path: RHEL, Kylin and UOS lay their fonts out differently."""

from __future__ import annotations

import os
import shutil
import subprocess  # fontconfig's fc-list, a fixed argument list, no shell  # nosec B404
from dataclasses import dataclass
from pathlib import Path

FONT_ENV = "BAOHAN_FONT"
CJK_FONT_PACKAGE = "fonts-wqy-zenhei"
# reportlab embeds TrueType outlines only (not CFF: Noto Sans CJK and Source Han are CFF), so fontconfig's
# CFF faces are passed over, and of the TrueType ones these come first.
_PREFERRED = (
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Droid Sans Fallback",
)
_found: dict[tuple[str | None, str | None], FontChoice] = {}


class FontNotFoundError(FileNotFoundError):
    """No usable CJK font: the message says how to provide one."""


@dataclass(frozen=True)
class FontChoice:
    """A TrueType face able to print Chinese: its file and, for a collection (.ttc), its index."""

    path: Path
    index: int = 0


def how_to_get_one() -> str:
    """What an operator can do about a missing font, in one sentence."""
    return (
        f"set {FONT_ENV} to a TrueType font file with Chinese glyphs (.ttf/.ttc), or install one that "
        f"fontconfig lists under fc-list :lang=zh-cn (Debian/Ubuntu/Kylin/UOS: apt-get install "
        f"{CJK_FONT_PACKAGE}; RHEL: dnf install wqy-zenhei-fonts)"
    )


def _fontconfig_fonts() -> list[tuple[str, FontChoice]]:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        listing = subprocess.run(  # fc-list from PATH, fixed arguments, no shell  # nosec B603
            [fc_list, ":lang=zh-cn", "-f", "%{fontformat}\t%{index}\t%{family[0]}\t%{file}\n"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in listing.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "TrueType" and parts[1].isdigit():
            found.append((parts[2], FontChoice(Path(parts[3]), int(parts[1]))))
    return found


def find_cjk_font() -> FontChoice:
    """``$BAOHAN_FONT`` if set, else the TrueType Chinese face fontconfig lists (the same one every run)."""
    setting = os.environ.get(FONT_ENV, "").strip() or None
    key = (setting, os.environ.get("PATH"))
    if key in _found:
        return _found[key]
    if setting is not None:
        path = Path(setting).expanduser()
        if not path.is_file():
            raise FontNotFoundError(f"{FONT_ENV}={setting} is not a font file: {how_to_get_one()}")
        choice = FontChoice(path)
    else:
        candidates = _fontconfig_fonts()
        if not candidates:
            raise FontNotFoundError(f"no font with Chinese glyphs found: {how_to_get_one()}")

        def rank(item: tuple[str, FontChoice]) -> tuple[int, str, int]:
            family, font = item
            place = _PREFERRED.index(family) if family in _PREFERRED else len(_PREFERRED)
            return place, str(font.path), font.index

        choice = min(candidates, key=rank)[1]
    _found[key] = choice
    return choice
