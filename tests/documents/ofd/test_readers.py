"""Our OFDs in independent readers from PyPI: ofdkit extracts the text (the guarantee number included) and
easyofd renders the page with its text, the picture and the seal; our verifier agrees with itself on the
same file and refuses a tampered copy."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

from baohan.adapters.documents.ofd import OfdPackage, Stamp, seal_ofd, verify_ofd, write_ofd
from tests.documents.ofd.conftest import (
    GUARANTEE_NO,
    INSTITUTION,
    NOW,
    SealKit,
    guarantee_document,
    register_reader_font,
)
from tests.peers import missing


def _reader(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # a dev dependency: `make test` installs it
        missing(f"{name} is not installed ({exc}); `make test` installs the dev extras")


@pytest.fixture(scope="module")
def sealed(kit: SealKit) -> bytes:
    # The stamp sits apart from the page's own picture, so a rendered seal there comes from the SESeal.
    stamp = Stamp(x=20, y=220, width=40, height=40)
    return seal_ofd(
        write_ofd(guarantee_document(kit)), kit.seal, kit.user.key, kit.user.cert, stamp=stamp, at=NOW
    )


def test_ofdkit_reads_our_text_and_metadata(sealed: bytes) -> None:
    ofdkit = _reader("ofdkit")
    with ofdkit.open(sealed) as document:
        text = document.text()
        assert document.warnings == []
        info = document.info
        runs = document.pages[0].runs
    assert f"保函编号：{GUARANTEE_NO}" in text
    assert "投标保函" in text and INSTITUTION in text and "担保金额人民币伍万元整" in text
    assert info.title == "投标保函" and info.custom_data == {"保函编号": GUARANTEE_NO}
    number = next(r for r in runs if r.text == f"保函编号：{GUARANTEE_NO}")
    assert (number.x, round(number.y, 2)) == (25, round(50 + 4.2 * 0.88, 2))


def _ink(image: object, box_mm: tuple[float, float, float, float], test: object) -> int:
    from PIL import Image

    assert isinstance(image, Image.Image)
    scale = image.width / 210
    x, y, w, h = (round(v * scale) for v in box_mm)
    region = image.convert("RGB").crop((x, y, x + w, y + h))
    data = region.tobytes()
    return sum(1 for i in range(0, len(data), 3) if test(data[i], data[i + 1], data[i + 2]))  # type: ignore[operator]


def test_easyofd_renders_the_page_with_its_text_picture_and_seal(
    sealed: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    easyofd = _reader("easyofd")
    register_reader_font()
    monkeypatch.chdir(tmp_path)  # easyofd may leave working files behind
    reader = easyofd.OFD()
    reader.read(sealed, fmt="binary")
    try:
        pages = reader.to_jpg()
    finally:
        reader.del_data()
    assert len(pages) == 1
    page = pages[0]
    assert abs(page.height / page.width - 297 / 210) < 0.01

    def dark(r: int, g: int, b: int) -> bool:
        return r + g + b < 200

    def red(r: int, g: int, b: int) -> bool:
        return r > 180 and g < 90 and b < 90

    assert _ink(page, (25, 50, 80, 6), dark) > 500  # the guarantee number's line
    assert _ink(page, (130, 220, 40, 40), red) > 500  # the seal picture placed on the page
    assert _ink(page, (20, 220, 40, 40), red) > 500  # the stamp drawn from the SESeal in SignedValue.dat
    assert _ink(page, (80, 150, 40, 40), red) == 0  # and nothing red elsewhere


def test_our_verifier_accepts_ours_and_refuses_a_tampered_copy(sealed: bytes, kit: SealKit) -> None:
    assert verify_ofd(sealed, trusted=[kit.ca]).valid
    package = OfdPackage.read(sealed)
    page = "Doc_0/Pages/Page_0/Content.xml"
    package.put(page, package[page].replace(GUARANTEE_NO.encode(), b"TBH2026999999"))
    tampered = verify_ofd(package.to_bytes(), trusted=[kit.ca])
    assert not tampered.valid and "Content.xml does not match" in tampered.reason
