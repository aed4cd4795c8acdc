"""The application agreement (保函申请协议) the bidder signs (spec 004 flow step 3), and its check.

The text is rendered deterministically, so the bytes the bidder signs in the browser or with
``baohan bidder sign`` are the bytes the institution verifies and attaches to the guarantee. The project
fields appear only as their ciphertext: the institution learns them at bid opening, like everyone else.
The signature is SM3withSM2 with user ID 1234567812345678, by the key of the bidder's certificate.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from baohan.gm import SM2Certificate
from baohan.gm.errors import CertificateError
from baohan.protocols.tender.bidder import READABLE_FIELDS, BidderError
from baohan.protocols.tender.sealing import SEALED_FIELDS

_LABELS = {
    "biddername": "投标人名称",
    "biddercode": "统一社会信用代码",
    "bzjamount": "保证金金额（元）",
    "biaoduanno": "标段编号（密文）",
    "biaoduanname": "标段名称（密文）",
    "zbr": "招标人（密文）",
    "zbrorgnum": "招标人统一社会信用代码（密文）",
}
_TERMS = (
    "一、投标人向担保机构申请上述投标保证金保函，保证所填信息真实、准确、完整。",
    "二、标段编号、标段名称、招标人及其统一社会信用代码在开标前以密文提交，担保机构于开标后获得项目密钥时方可知悉。",
    "三、投标人按担保机构核定的费率缴纳保费；保函出具后，担保机构依保函约定承担担保责任，投标人承担相应偿付义务。",
    "四、投标人使用其数字证书对本协议进行电子签名，与手写签名或盖章具有同等法律效力。",
)
_LINE_BREAKS = frozenset("\u2028\u2029")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+", re.ASCII)


def _line(field: str, value: object) -> str:
    text = str(value)
    # A line break in a value could forge a clause of the agreement the bidder signs.
    if any(unicodedata.category(c) == "Cc" or c in _LINE_BREAKS for c in text):
        raise BidderError(field, "must not contain control characters or line breaks")
    return text


def render_agreement(applyno: str, application: Mapping[str, object], institution: str) -> bytes:
    """The agreement's UTF-8 bytes for ``applyno``, from the opened application's fields (project ones sealed)."""
    lines = [
        "保函申请协议",
        "",
        f"申请编号：{_line('applyno', applyno)}",
        f"担保机构：{_line('institution', institution)}",
    ]
    for name in (*READABLE_FIELDS, *SEALED_FIELDS):
        value = application.get(name)
        if value is None or value == "":
            continue
        lines.append(f"{_LABELS[name]}：{_line(f'application.{name}', value)}")
    lines += ["", *_TERMS, ""]
    return "\n".join(lines).encode("utf-8")


def signature_bytes(signature: str) -> bytes:
    """The signature's bytes from its text: hex (r‖s or DER, as sm-crypto gives it) or Base64 DER."""
    text = signature.strip()
    if _HEX.fullmatch(text):
        # sm-crypto's doSignature gives hex: raw r‖s (128 digits) by default, DER with ``der: true``.
        return bytes.fromhex(text)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BidderError("signature", "is neither Base64 DER nor hex") from None


def verify_agreement_signature(
    agreement: bytes,
    certificate_pem: str,
    signature: str,
    *,
    trusted: Sequence[SM2Certificate] = (),
    at: datetime | None = None,
) -> SM2Certificate:
    """The signer's certificate, if ``signature`` signs ``agreement`` by it, it is valid now, and (when
    ``trusted`` CAs are given) one of them issued it; BidderError naming ``signature`` or ``certificate``."""
    moment = at or datetime.now(UTC)
    try:
        certificate = SM2Certificate.load(certificate_pem)
    except CertificateError as exc:
        raise BidderError("certificate", str(exc)) from None
    if not certificate.not_before <= moment <= certificate.not_after:
        raise BidderError(
            "certificate",
            f"is not valid now (valid {certificate.not_before:%Y-%m-%d} to {certificate.not_after:%Y-%m-%d})",
        )
    if trusted:
        _check_chain(certificate, trusted, moment)
    raw = signature_bytes(signature)
    if not certificate.public_key.verify(agreement, raw):
        raise BidderError("signature", "does not verify against the certificate's key over this agreement")
    return certificate


def _check_chain(certificate: SM2Certificate, trusted: Sequence[SM2Certificate], moment: datetime) -> None:
    reasons = []
    for ca in trusted:
        try:
            certificate.verify_issued_by(ca, moment)
        except CertificateError as exc:
            reasons.append(str(exc))
        else:
            return
    raise BidderError("certificate", f"is not issued by a trusted bidder CA ({reasons[-1]})")
