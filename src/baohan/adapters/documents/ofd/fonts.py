"""Where the CJK font for drawing is: ``$BAOHAN_FONT`` if set, else whatever fontconfig offers for Chinese."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FONT_ENV = "BAOHAN_FONT"


class FontNotFoundError(FileNotFoundError):
    """No usable CJK font: the message says how to provide one."""


def find_cjk_font() -> Path:
    """A font file with Chinese glyphs: ``$BAOHAN_FONT``, or fontconfig's best match for ``:lang=zh``."""
    configured = os.environ.get(FONT_ENV, "").strip()
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontNotFoundError(f"{FONT_ENV}={configured} is not a readable font file")
        return path
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise FontNotFoundError(
            f"no fontconfig (fc-list) to find a Chinese font; set {FONT_ENV} to a font file"
        )
    try:
        # fc-match always answers, with a Latin fallback if need be; fc-list lists only fonts that cover
        # Chinese, and sorting makes the choice the same on every run.
        listed = subprocess.run(
            [fc_list, "--format=%{file}\\n", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        raise FontNotFoundError(f"fc-list failed ({exc}); set {FONT_ENV} to a font file") from None
    files = sorted({line.strip() for line in listed.splitlines() if line.strip()})
    usable = [Path(f) for f in files if f.lower().endswith((".ttf", ".ttc", ".otf")) and Path(f).is_file()]
    if not usable:
        raise FontNotFoundError(
            f"fontconfig knows no Chinese font; install one (fonts-wqy-zenhei) or set {FONT_ENV}"
        )
    return usable[0]
