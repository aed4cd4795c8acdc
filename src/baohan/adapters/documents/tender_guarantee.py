"""The tender bid guarantee (投标保函, spec 004) as sealed OFD documents.

- :func:`sealed_guarantee`: issued before the bids open, so the project fields (标段编号, 标段名称, 招标人,
  招标人统一社会信用代码) are printed as the Base64 ciphertext they arrived as; the bidder's signed
  application agreement travels inside as three attachments (the agreement, the bidder's SM2 signature over
  it, the bidder's certificate). Sealed by the institution.
- :func:`plain_guarantee`: issued after the bids open, with the project fields in plain text and the sealed
  guarantee attached unchanged (rewriting it would break its seals). Sealed as a whole.

Fonts are named for the reader to substitute, as the OFD writer does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from baohan.adapters.documents.letter import chinese_day
from baohan.adapters.documents.ofd import (
    Attachment,
    OfdDocument,
    OfdError,
    OfdPackage,
    Page,
    Stamp,
    Text,
    seal_ofd,
    verify_ofd,
    write_ofd,
)
from baohan.adapters.documents.ofd import xmlparts as x
from baohan.adapters.documents.ofd.flow import Paragraph, flow
from baohan.adapters.documents.ofd.structure import doc_body
from baohan.adapters.documents.ofd.writer import advance
from baohan.domain.money import amount_in_chinese, format_amount
from baohan.gm import SM2Certificate, SM2PrivateKey, sm3

FONT = "宋体"
SEALED_FILE = "sealed-guarantee.ofd"
SIGNATURE_FILE = "agreement-signature.der"
CERTIFICATE_FILE = "bidder-certificate.cer"
# The seal sits over the institution's name, as a stamp on paper does; the body ends above both.
STAMP = Stamp(page=0, x=120, y=236, width=40, height=40)
_LEFT, _WIDTH, _TOP, _BOTTOM = 25.0, 160.0, 24.0, 236.0
_FOOT_LEFT, _FOOT_TOP, _PAGE_BOTTOM = 100.0, 248.0, 287.0
_PROJECT_FIELDS = ("bid_section_no", "bid_section_name", "tenderer", "tenderer_code")
_NUMBER_KEY = "保函编号"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@dataclass(frozen=True)
class TenderGuarantee:
    """What a tender guarantee states. The four project fields are ciphertext (Base64) for the sealed
    guarantee and plain text for the plain one; ``tenderer_code`` may be empty (zbrorgnum is optional)."""

    guarantee_no: str
    institution: str
    bidder_name: str
    bidder_code: str
    amount: Decimal
    bid_section_no: str
    bid_section_name: str
    tenderer: str
    valid_from: datetime
    valid_to: datetime
    issued_at: datetime
    tenderer_code: str = ""

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, datetime):
                if value.utcoffset() is None:
                    raise ValueError(f"{field.name} must be timezone-aware")
            elif field.name not in ("amount", "tenderer_code") and not str(value).strip():
                raise ValueError(f"{field.name} must not be empty")
        format_amount(self.amount)  # a Decimal with at most two places, or a TypeError/ValueError naming it
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        if self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")


@dataclass(frozen=True)
class SignedAgreement:
    """The application agreement the bidder signed: the file, the bidder's SM2 signature over its bytes
    (DER or r‖s, default user id) and the bidder's certificate; a signature that does not verify is refused."""

    file_name: str
    data: bytes
    signature: bytes
    certificate: SM2Certificate

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("the agreement file is empty")
        if not self.certificate.public_key.verify(self.data, self.signature):
            raise ValueError("the agreement's signature does not verify with the bidder's certificate")


@dataclass(frozen=True)
class InstitutionSeal:
    """The institution's GB/T 38540 seal (SESeal bytes) and the key and certificate that use it."""

    seal: bytes
    key: SM2PrivateKey
    cert: SM2Certificate


def sealed_guarantee(facts: TenderGuarantee, agreement: SignedAgreement, seal: InstitutionSeal) -> bytes:
    """The guarantee with the project fields as ciphertext and the signed agreement attached, sealed."""
    for name in _PROJECT_FIELDS:
        value = getattr(facts, name)
        if value and not _BASE64.fullmatch(value):
            raise ValueError(f"{name} must be the ciphertext as it arrived (Base64), not plain text")
    attachments = (
        Attachment(agreement.file_name, agreement.data, facts.issued_at, "投保协议"),
        Attachment(SIGNATURE_FILE, agreement.signature, facts.issued_at, "投标人对投保协议的签名", "der"),
        Attachment(
            CERTIFICATE_FILE, agreement.certificate.to_der(), facts.issued_at, "投标人数字证书", "cer"
        ),
    )
    note = "标段及招标人信息为投保时的密文，开标后以明文保函载明。附件：投保协议及投标人的签名、数字证书。"
    return _sealed(facts, "密文", note, attachments, seal)


def plain_guarantee(facts: TenderGuarantee, sealed_ofd: bytes, seal: InstitutionSeal) -> bytes:
    """The guarantee with the project fields in plain text, ``sealed_ofd`` attached as it is, sealed as a whole."""
    check = verify_ofd(sealed_ofd)
    if not check.valid:
        raise OfdError(f"the sealed guarantee to attach does not verify: {check.reason}")
    number = _guarantee_no(sealed_ofd)
    if number != facts.guarantee_no:
        raise OfdError(
            f"the sealed guarantee to attach is {number or 'unnumbered'}, not {facts.guarantee_no}"
        )
    attachment = Attachment(SEALED_FILE, sealed_ofd, facts.issued_at, "密文保函", "ofd")
    note = "本保函与所附密文保函为同一保函；附件：密文保函（含投保协议）。"
    return _sealed(facts, "明文", note, (attachment,), seal)


def _guarantee_no(ofd: bytes) -> str:
    """The 保函编号 a guarantee of ours records in its OFD.xml CustomData ("" when it records none)."""
    info = x.find(doc_body(OfdPackage.read(ofd)), "DocInfo/CustomDatas")
    listed = x.find_all(info, "CustomData") if info is not None else []
    return next(((node.text or "").strip() for node in listed if node.get("Name") == _NUMBER_KEY), "")


def _sealed(
    facts: TenderGuarantee, form: str, note: str, attachments: tuple[Attachment, ...], seal: InstitutionSeal
) -> bytes:
    document = OfdDocument(
        doc_id=sm3(f"{form}:{facts.guarantee_no}".encode()).hex()[:32],
        title=f"投标保函（{form}）",
        created=facts.issued_at,
        author=facts.institution,
        custom_data={_NUMBER_KEY: facts.guarantee_no, "保函形式": form},
        pages=[Page(_page(facts, form, note))],
        attachments=attachments,
    )
    return seal_ofd(write_ofd(document), seal.seal, seal.key, seal.cert, stamp=STAMP, at=facts.issued_at)


def _page(facts: TenderGuarantee, form: str, note: str) -> list[Text]:
    title = "投标保函"
    size = 8.0
    title_x = (210 - sum(advance(c, size) for c in title)) / 2
    amount = f"人民币 ¥{format_amount(facts.amount)}（大写：{amount_in_chinese(facts.amount)}）"
    project = [
        ("标段编号", facts.bid_section_no),
        ("标段名称", facts.bid_section_name),
        ("招标人", facts.tenderer),
        ("招标人统一社会信用代码", facts.tenderer_code),
    ]
    body = [
        Paragraph(f"（{form}）", size=3.5),
        Paragraph(f"保函编号：{facts.guarantee_no}", space_before=2),
        Paragraph(
            f"鉴于{facts.bidder_name}（统一社会信用代码：{facts.bidder_code}，以下简称“投标人”）参加下列标段的"
            f"投标，{facts.institution}（以下简称“我方”）不可撤销地向招标人保证：投标人在投标有效期内撤销"
            "投标文件，或中标后无正当理由不签订合同、不按招标文件要求提交履约担保的，我方在收到招标人书面索赔"
            "通知后，在担保金额内向招标人承担保证责任。",
            space_before=4,
        ),
        Paragraph(f"担保金额：{amount}", space_before=2),
        Paragraph(
            f"保函有效期：自{chinese_day(facts.valid_from)}起至{chinese_day(facts.valid_to)}止",
            space_before=1,
        ),
        *(Paragraph(f"{label}：{value}", size=3.5, space_before=1.5) for label, value in project if value),
        Paragraph(note, size=3.5, space_before=3),
    ]
    return [
        Text(title, x=title_x, y=_TOP - 10, size=size, font=FONT),
        *flow(body, left=_LEFT, top=_TOP, width=_WIDTH, bottom=_BOTTOM, font=FONT),
        *flow(
            [
                Paragraph(f"出函机构：{facts.institution}"),
                Paragraph(f"出函日期：{chinese_day(facts.issued_at)}", space_before=2),
            ],
            left=_FOOT_LEFT,
            top=_FOOT_TOP,
            width=_LEFT + _WIDTH - _FOOT_LEFT,
            bottom=_PAGE_BOTTOM,
            font=FONT,
        ),
    ]
