"""Keys, a test CA, a seal and a guarantee-like OFD for the OFD tests; the shared samples located in place."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from baohan.adapters.documents.fonts import find_cjk_font
from baohan.adapters.documents.ofd import (
    Attachment,
    Image,
    OfdDocument,
    Page,
    SealSpec,
    Text,
    draw_seal,
    make_seal,
    seal_ofd,
    write_ofd,
)
from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca
from tests.peers import missing

SAMPLES_ENV = "BAOHAN_OFD_SAMPLES"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
GUARANTEE_NO = "TBH2026000042"
INSTITUTION = "示例融资担保股份有限公司"


@dataclass(frozen=True)
class Party:
    """A key and the certificate the test CA gave it."""

    key: SM2PrivateKey
    cert: SM2Certificate


@dataclass(frozen=True)
class SealKit:
    """Everything sealing needs: the CA, the seal maker, the institution (the seal's user) and its seal."""

    ca: SM2Certificate
    maker: Party
    user: Party
    seal: bytes
    picture: bytes


def _party(ca: SM2Certificate, ca_key: SM2PrivateKey, subject: str) -> Party:
    key = SM2PrivateKey.generate()
    return Party(key, issue_certificate(ca, ca_key, subject, key.public_key, now=NOW - timedelta(days=1)))


def make_kit(name: str = INSTITUTION, *, valid_days: int = 365) -> SealKit:
    """A fresh test CA certifying a seal maker and the institution, and the institution's seal."""
    ca_key = SM2PrivateKey.generate()
    ca = make_ca("CN=baohan Test CA,O=baohan,C=CN", ca_key, now=NOW - timedelta(days=2))
    maker = _party(ca, ca_key, "CN=baohan Seal Maker,O=baohan,C=CN")
    user = _party(ca, ca_key, f"CN={name},O={name},C=CN")
    picture = draw_seal(name, caption="保函专用章", size_px=240)
    spec = SealSpec(
        es_id="11010000000042",
        name=f"{name}保函专用章",
        picture_png=picture,
        users=[user.cert],
        valid_from=NOW - timedelta(days=1),
        valid_to=NOW + timedelta(days=valid_days),
    )
    return SealKit(
        ca, maker, user, make_seal(spec, maker.key, maker.cert, created=NOW - timedelta(days=1)), picture
    )


def guarantee_document(kit: SealKit, *, attachments: tuple[Attachment, ...] = ()) -> OfdDocument:
    """A one-page guarantee in Chinese with the guarantee number, the seal picture and any attachments."""
    body = (
        "致：示例市公共资源交易中心\n"
        f"鉴于投标人参加项目的投标，我方愿就投标人履行投标义务向贵方提供保证，保函编号 {GUARANTEE_NO}。"
        "担保金额人民币伍万元整（¥50,000.00）。"
    )
    return OfdDocument(
        doc_id="b8d1f0c2a4e64f0f9d3c7a1e5b2c9d01",
        title="投标保函",
        created=NOW,
        author=INSTITUTION,
        custom_data={"保函编号": GUARANTEE_NO},
        pages=[
            Page(
                [
                    Text("投标保函", x=85, y=30, size=8, font="黑体"),
                    Text(f"保函编号：{GUARANTEE_NO}", x=25, y=50),
                    Text(body, x=25, y=62, width=160),
                    Text(INSTITUTION, x=120, y=240),
                    Image(kit.picture, x=130, y=220, width=40, height=40),
                ]
            )
        ],
        attachments=attachments,
    )


SIGNATURE = "Doc_0/Signs/Sign_0/Signature.xml"
VALUE = "Doc_0/Signs/Sign_0/SignedValue.dat"
KIT = make_kit()
SEALED = seal_ofd(write_ofd(guarantee_document(KIT)), KIT.seal, KIT.user.key, KIT.user.cert, at=NOW)
"""A guarantee sealed once by KIT's institution, for the tests that take it apart."""


@pytest.fixture(scope="session")
def kit() -> SealKit:
    return KIT


@pytest.fixture(scope="session")
def guarantee_ofd(kit: SealKit) -> bytes:
    return write_ofd(guarantee_document(kit))


def register_reader_font() -> None:
    """Give easyofd the machine's Chinese font as "宋体": it draws every text in that face (it looks for
    Windows' simsun.ttc), as a reader's host would have it."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "宋体" not in pdfmetrics.getRegisteredFontNames():
        font = find_cjk_font()
        pdfmetrics.registerFont(TTFont("宋体", str(font.path), subfontIndex=font.index))


def _origin(repo_root: Path) -> list[Path]:
    """The local checkout this repository was cloned from, if it was cloned from a path."""
    try:
        url = subprocess.run(
            ["git", "-C", str(repo_root), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return []
    origin = Path(url.removeprefix("file://"))
    return [origin.resolve()] if url and origin.is_dir() else []


def samples_dir() -> Path:
    """The shared OFD samples: ``$BAOHAN_OFD_SAMPLES``, else ``shared/ofd-samples`` beside an ancestor of the repo.

    They stay where they are (test data, not ours to copy). Missing, the tests that need them fail.
    """
    configured = os.environ.get(SAMPLES_ENV, "").strip()
    repo_root = Path(__file__).resolve().parents[3]
    # A clone made elsewhere (a temp dir) finds them beside the checkout it was cloned from.
    roots = [repo_root, *_origin(repo_root)]
    candidates = (
        [Path(configured)]
        if configured
        else [a / "shared" / "ofd-samples" for root in roots for a in root.parents]
    )
    for candidate in candidates:
        if (candidate / "signedFile.ofd").is_file():
            return candidate
    missing(f"OFD samples not found (set {SAMPLES_ENV} or keep ../shared/ofd-samples beside the checkout)")


@pytest.fixture(scope="session")
def samples() -> Path:
    return samples_dir()
