"""The guarantee letter PDF says what a beneficiary needs; its SM2 signature verifies, and nothing else does."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from asn1crypto import cms, x509
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils.generic import DictionaryObject
from pyhanko.pdf_utils.reader import PdfFileReader

from baohan.adapters.documents.letter import (
    CJK_FONT_PACKAGE,
    FontNotFoundError,
    GuaranteeLetter,
    render_letter_pdf,
)
from baohan.adapters.documents.pdf_signature import PdfSignatureCheck, sign_pdf, verify_pdf
from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca, parse_name

NOW = datetime.now(UTC).replace(microsecond=0)
LETTER = GuaranteeLetter(
    guarantee_no="BH2025000123",
    issuer_name="中国示例银行股份有限公司北京分行",
    beneficiary_name="北京市示例区教育委员会",
    beneficiary_code="11110000000000000X",
    principal_name="北京示例科技有限公司",
    principal_code="91110108MA00000000",
    amount=Decimal("125000.00"),
    # 16:00 UTC is midnight in Shanghai: the letter must print the Shanghai date, not the UTC one.
    valid_from=datetime(2024, 12, 31, 16, 0, tzinfo=UTC),
    valid_to=datetime(2025, 12, 31, 15, 59, tzinfo=UTC),
    issued_at=datetime(2024, 12, 30, 17, 30, tzinfo=UTC),
    project_code="BJZC-2024-0456",
    project_name="示例区中小学多媒体教室设备采购项目",
    bid_code="BJZC-2024-0456-01",
    bid_name="第一包：交互式智能平板",
    verification_code="7F3K9QX2ABCD",
)


# --- a small text extractor: reportlab's subset fonts carry ToUnicode CMaps, which is all it needs ---

_TOKEN = re.compile(
    rb"\s+|%[^\r\n]*|(?P<name>/[^\s/\[\]()<>{}%]*)|(?P<str>\()|(?P<hex><[0-9A-Fa-f\s]*>)"
    rb"|(?P<open>\[)|(?P<close>\])|(?P<op>[^\s/\[\]()<>{}%]+)"
)
_ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}


def _literal(data: bytes, pos: int) -> tuple[bytes, int]:
    out, depth = bytearray(), 1
    while True:
        char = data[pos]
        pos += 1
        if char == ord("\\"):
            octal = re.match(rb"[0-7]{1,3}", data[pos : pos + 3])
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                pos += len(octal.group())
            else:
                out.append(_ESCAPES.get(data[pos], data[pos]))
                pos += 1
        elif char == ord("(") or char == ord(")"):
            depth += 1 if char == ord("(") else -1
            if depth == 0:
                return bytes(out), pos
            out.append(char)
        else:
            out.append(char)


def _cmap(font: DictionaryObject) -> dict[int, str]:
    data = font["/ToUnicode"].data
    mapping = {}
    for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", data.split(b"endcodespacerange")[-1]):
        mapping[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    return mapping


def page_text(pdf: bytes) -> str:
    """All text shown on the first page, decoded through each font's ToUnicode map."""
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0]
    fonts = page["/Resources"]["/Font"]
    maps = {name: _cmap(fonts[name]) for name in fonts}  # indexing dereferences, .items() does not
    data = page["/Contents"].data
    stack: list[object] = []
    arrays: list[list[object]] = []
    font: dict[int, str] = {}
    text: list[str] = []

    def show(value: object) -> None:
        if isinstance(value, bytes):
            text.append("".join(font.get(b, chr(b)) for b in value))

    pos = 0
    while pos < len(data):
        m = _TOKEN.match(data, pos)
        assert m, data[pos : pos + 20]
        pos = m.end()
        target = arrays[-1] if arrays else stack
        if m["name"]:
            target.append(m["name"].decode())
        elif m["str"]:
            value, pos = _literal(data, pos)
            target.append(value)
        elif m["hex"]:
            target.append(bytes.fromhex(re.sub(rb"\s", b"", m["hex"][1:-1]).decode()))
        elif m["open"]:
            arrays.append([])
        elif m["close"]:
            done = arrays.pop()
            (arrays[-1] if arrays else stack).append(done)
        elif m["op"]:
            op = m["op"].decode()
            if op == "Tf":
                font = maps[str(stack[-2])]
            elif op in ("Tj", "'", '"'):
                show(stack[-1])
            elif op == "TJ":
                for item in stack[-1]:  # type: ignore[attr-defined]
                    show(item)
            elif re.fullmatch(r"[-+.\d]+", op):
                stack.append(op)
                continue
            stack.clear()
    return "".join(text)


def _squeeze(text: str) -> str:
    return re.sub(r"\s", "", text)


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def ca(ca_key: SM2PrivateKey) -> SM2Certificate:
    return make_ca("CN=baohan Test CA,O=baohan,C=CN", ca_key, now=NOW - timedelta(days=1))


@pytest.fixture(scope="module")
def signer_key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def signer_cert(ca: SM2Certificate, ca_key: SM2PrivateKey, signer_key: SM2PrivateKey) -> SM2Certificate:
    return issue_certificate(
        ca, ca_key, "CN=中国示例银行股份有限公司,O=中国示例银行,C=CN", signer_key.public_key, now=NOW
    )


@pytest.fixture(scope="module")
def letter_pdf() -> bytes:
    return render_letter_pdf(LETTER)


@pytest.fixture(scope="module")
def signed(
    letter_pdf: bytes, signer_key: SM2PrivateKey, signer_cert: SM2Certificate, ca: SM2Certificate
) -> bytes:
    return sign_pdf(letter_pdf, signer_key, signer_cert, chain=[ca], signing_time=NOW + timedelta(hours=1))


def _byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    found = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    a, b, c, d = (int(n) for n in found[-1])
    return a, b, c, d


# --- the letter -----------------------------------------------------------------------------------------


def test_letter_states_every_fact_a_beneficiary_needs(letter_pdf: bytes) -> None:
    text = _squeeze(page_text(letter_pdf))
    facts = [
        LETTER.kind,
        "保函编号：BH2025000123",
        LETTER.beneficiary_name,
        LETTER.beneficiary_code,
        LETTER.principal_name,
        LETTER.principal_code,
        "人民币壹拾贰万伍仟元整",
        "¥125,000.00",
        "自2025年01月01日00:00起至2025年12月31日23:59止",  # Shanghai time
        LETTER.project_name,
        LETTER.project_code,
        LETTER.bid_name,
        LETTER.bid_code,
        "见索即付",
        "首次提交的书面索赔通知",
        "无需提供任何证明",
        "验真码：7F3K9QX2ABCD",
        "出函机构（电子签章）：中国示例银行股份有限公司北京分行",
        "出函日期：2024年12月31日",  # 17:30 UTC on the 30th is the 31st in Shanghai
    ]
    missing = [fact for fact in facts if _squeeze(fact) not in text]
    assert not missing, f"not on the page: {missing}\n{text}"


def test_letter_is_one_a4_page_with_the_font_embedded(letter_pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(letter_pdf))
    pages = reader.root["/Pages"]
    assert pages["/Count"] == 1
    page = pages["/Kids"][0]
    assert [round(float(v)) for v in page["/MediaBox"]] == [0, 0, 595, 842]
    fonts = page["/Resources"]["/Font"]
    assert len(fonts)
    for font in (fonts[name] for name in fonts):
        assert re.fullmatch(r"/[A-Z]{6}\+WenQuanYiZenHei-\d+", str(font["/BaseFont"]))  # a subset
        assert "/FontFile2" in font["/FontDescriptor"]  # embedded, so it renders without the font
    assert len(letter_pdf) < 200_000  # the subset, not the 16 MB collection


def test_same_letter_same_bytes_and_issue_time_as_creation_date(letter_pdf: bytes) -> None:
    assert render_letter_pdf(LETTER) == letter_pdf
    info = PdfFileReader(io.BytesIO(letter_pdf)).trailer_view["/Info"]
    assert str(info["/CreationDate"]).startswith("D:20241231013000+08'00'")
    assert "BH2025000123" in str(info["/Title"])


def test_long_names_still_fit_one_page() -> None:
    long = replace(LETTER, project_name="超长项目名称" * 120, principal_name="某某" * 80 + "有限公司")
    pdf = render_letter_pdf(long)
    assert PdfFileReader(io.BytesIO(pdf)).root["/Pages"]["/Count"] == 1
    assert _squeeze("超长项目名称" * 120) in _squeeze(page_text(pdf))


def test_markup_in_names_is_printed_not_interpreted() -> None:
    pdf = render_letter_pdf(replace(LETTER, principal_name="A&B <有限> 公司"))
    assert "A&B<有限>公司" in _squeeze(page_text(pdf))


def test_missing_font_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(FontNotFoundError, match=CJK_FONT_PACKAGE):
        render_letter_pdf(LETTER, font_path=tmp_path / "missing.ttc")
    (tmp_path / "broken.ttc").write_bytes(b"not a font")
    with pytest.raises(FontNotFoundError, match=CJK_FONT_PACKAGE):
        render_letter_pdf(LETTER, font_path=tmp_path / "broken.ttc")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"amount": Decimal("-1.00")}, "negative"),
        ({"amount": Decimal("0.00")}, "positive"),
        ({"amount": Decimal("1.001")}, "decimal places"),
        ({"valid_from": datetime(2025, 1, 1)}, "valid_from must be a timezone-aware"),
        ({"valid_to": datetime(2024, 1, 1, tzinfo=UTC)}, "valid_to must be after valid_from"),
        ({"guarantee_no": " "}, "guarantee_no must be a non-empty string"),
        ({"bid_code": None}, "bid_code must be a non-empty string"),
    ],
)
def test_letter_refuses_bad_facts(change: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        replace(LETTER, **change)  # type: ignore[arg-type]


# --- signing and verifying ----------------------------------------------------------------------------


def test_signed_letter_verifies_with_signer_facts_for_ely104(
    signed: bytes, letter_pdf: bytes, signer_cert: SM2Certificate, ca: SM2Certificate
) -> None:
    assert signed.startswith(letter_pdf)  # an incremental update: the letter's bytes are untouched
    check = verify_pdf(signed, [ca])
    assert check == PdfSignatureCheck(
        valid=True,
        reason="",
        signer=signer_cert.info(),
        signing_time=NOW + timedelta(hours=1),
        covers_whole_file=True,
    )
    assert check.signer is not None
    assert check.signer.serial == format(signer_cert.serial_number, "X")
    assert check.signer.subject_cn == "中国示例银行股份有限公司"
    assert check.signer.issuer_cn == "baohan Test CA"
    assert check.signer.not_before == signer_cert.not_before
    assert check.signer.not_after == signer_cert.not_after
    # The signed file is still the letter.
    assert "壹拾贰万伍仟元整" in page_text(signed)


def test_signature_is_sm3_with_sm2_cms_over_the_whole_file_but_contents(
    signed: bytes, signer_cert: SM2Certificate, ca: SM2Certificate
) -> None:
    a, b, c, d = _byte_range(signed)
    assert a == 0 and c + d == len(signed)
    assert re.fullmatch(rb"<[0-9a-fA-F]+>", signed[b:c])
    assert re.search(rb"/Contents\s*$", signed[b - 20 : b])
    signed_data = cms.ContentInfo.load(bytes.fromhex(signed[b + 1 : c - 1].decode()))["content"]
    info = signed_data["signer_infos"][0]
    assert info["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert info["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert [a["algorithm"].dotted for a in signed_data["digest_algorithms"]] == ["1.2.156.10197.1.401"]
    attributes = {attr["type"].dotted for attr in info["signed_attrs"]}
    assert {
        "1.2.840.113549.1.9.3",  # content type
        "1.2.840.113549.1.9.4",  # message digest
        "1.2.840.113549.1.9.5",  # signing time
        "1.2.840.113549.1.9.16.2.47",  # signing certificate v2
    } <= attributes
    certs = {choice.chosen.dump() for choice in signed_data["certificates"]}
    assert certs == {signer_cert.to_der(), ca.to_der()}
    assert b"/SubFilter /adbe.pkcs7.detached" in signed[c:]


def test_signer_certificate_itself_may_be_the_trusted_one(signed: bytes, signer_cert: SM2Certificate) -> None:
    assert verify_pdf(signed, [signer_cert]).valid


@given(st.data())
def test_one_byte_changed_anywhere_signed_is_invalid(signed: bytes, data: st.DataObject) -> None:
    a, b, c, d = _byte_range(signed)
    position = data.draw(st.one_of(st.integers(a, b - 1), st.integers(c, c + d - 1)), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    tampered = bytearray(signed)
    tampered[position] ^= flip
    check = verify_pdf(bytes(tampered), [signer_cert_of(signed)])
    assert not check.valid and check.reason


def signer_cert_of(pdf: bytes) -> SM2Certificate:
    """The signer certificate the CMS carries: trusting it isolates the test to the bytes' integrity."""
    _, b, c, _ = _byte_range(pdf)
    signed_data = cms.ContentInfo.load(bytes.fromhex(pdf[b + 1 : c - 1].decode()))["content"]
    return SM2Certificate(signed_data["certificates"][0].chosen.dump())


@pytest.mark.parametrize("where", ["first byte", "in the letter", "in the signature dictionary", "last byte"])
def test_one_byte_change_reports_a_digest_mismatch(signed: bytes, ca: SM2Certificate, where: str) -> None:
    _, b, c, _ = _byte_range(signed)
    position = {"first byte": 0, "in the letter": b // 2, "in the signature dictionary": c + 5}.get(
        where, len(signed) - 1
    )
    tampered = bytearray(signed)
    tampered[position] ^= 0x01
    check = verify_pdf(bytes(tampered), [ca])
    assert not check.valid
    assert "digest" in check.reason or "ByteRange" in check.reason


def test_bytes_appended_after_signing_do_not_verify(signed: bytes, ca: SM2Certificate) -> None:
    check = verify_pdf(signed + b"\n% appended\n", [ca])
    assert not check.valid
    assert not check.covers_whole_file
    assert "after the signed range" in check.reason
    assert check.signer is not None  # who signed is still reported, for the ELY104 answer


def test_untrusted_ca_is_refused_with_reason(letter_pdf: bytes, signed: bytes, ca: SM2Certificate) -> None:
    rogue_key = SM2PrivateKey.generate()
    rogue_ca = make_ca("CN=baohan Test CA,O=baohan,C=CN", rogue_key, now=NOW - timedelta(days=1))
    key = SM2PrivateKey.generate()
    cert = issue_certificate(rogue_ca, rogue_key, "CN=中国示例银行股份有限公司,C=CN", key.public_key, now=NOW)
    forged = sign_pdf(letter_pdf, key, cert, chain=[rogue_ca], signing_time=NOW + timedelta(hours=1))
    check = verify_pdf(forged, [ca])
    assert not check.valid and check.covers_whole_file
    assert "not trusted" in check.reason
    assert verify_pdf(forged, [rogue_ca]).valid  # the same file is fine for whoever trusts that CA
    assert not verify_pdf(signed, []).valid


def test_signing_time_outside_the_certificate_validity_is_refused(
    letter_pdf: bytes, signer_key: SM2PrivateKey, signer_cert: SM2Certificate, ca: SM2Certificate
) -> None:
    early = sign_pdf(letter_pdf, signer_key, signer_cert, signing_time=NOW - timedelta(days=30))
    check = verify_pdf(early, [ca])
    assert not check.valid and "not valid at the signing time" in check.reason


def _intermediate_ca(root: SM2Certificate, root_key: SM2PrivateKey, key: SM2PrivateKey) -> SM2Certificate:
    """A CA certificate issued by ``root`` (baohan.gm makes only self-signed CAs and end entities)."""
    root_asn1 = x509.Certificate.load(root.to_der())
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": 4242,
            "signature": {"algorithm": "sm3_sm2"},
            "issuer": root_asn1.subject,
            "validity": {
                "not_before": x509.Time({"utc_time": NOW - timedelta(days=1)}),
                "not_after": x509.Time({"utc_time": NOW + timedelta(days=365)}),
            },
            "subject": parse_name("CN=baohan Issuing CA,O=baohan,C=CN"),
            "subject_public_key_info": key.public_key.spki(),
            "extensions": [
                {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": True}},
                {"extn_id": "key_usage", "critical": True, "extn_value": {"key_cert_sign", "crl_sign"}},
            ],
        }
    )
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sm3_sm2"},
            "signature_value": root_key.sign(tbs.dump()),
        }
    )
    return SM2Certificate(cert.dump())


def test_chain_through_an_embedded_intermediate_reaches_the_trusted_root(
    letter_pdf: bytes, ca: SM2Certificate, ca_key: SM2PrivateKey
) -> None:
    issuing_key = SM2PrivateKey.generate()
    issuing = _intermediate_ca(ca, ca_key, issuing_key)
    key = SM2PrivateKey.generate()
    cert = issue_certificate(issuing, issuing_key, "CN=出函机构,C=CN", key.public_key, now=NOW)
    at = NOW + timedelta(hours=1)
    with_chain = sign_pdf(letter_pdf, key, cert, chain=[issuing], signing_time=at)
    assert verify_pdf(with_chain, [ca]).valid
    without_chain = sign_pdf(letter_pdf, key, cert, signing_time=at)
    assert "not trusted" in verify_pdf(without_chain, [ca]).reason
    assert verify_pdf(without_chain, [issuing]).valid


def test_second_signature_is_the_one_checked(
    signed: bytes, ca: SM2Certificate, ca_key: SM2PrivateKey
) -> None:
    key = SM2PrivateKey.generate()
    cert = issue_certificate(ca, ca_key, "CN=第二签章人,C=CN", key.public_key, now=NOW)
    twice = sign_pdf(signed, key, cert, signing_time=NOW + timedelta(hours=2))
    check = verify_pdf(twice, [ca])
    assert check.valid and check.signer is not None and check.signer.subject_cn == "第二签章人"
    assert verify_pdf(twice[: len(signed)], [ca]).valid  # the first revision still verifies alone


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"garbage",
        b"%PDF-1.4\n/ByteRange [0 10 5 3] /Contents <00>",
        b"%PDF-1.4\n/ByteRange [0 99999999999 99999999999 1]",
        b"%PDF-1.4\n/Contents <3082> /ByteRange [0 19 25 22] %%EOF padding.....",
        b"%PDF-1.4\n/Contents <zz> /ByteRange [0 19 23 24] %%EOF",
    ],
)
def test_garbage_is_invalid_not_an_exception(garbage: bytes, ca: SM2Certificate) -> None:
    check = verify_pdf(garbage, [ca])
    assert not check.valid and check.reason and check.signer is None


def test_unsigned_letter_is_invalid(letter_pdf: bytes, ca: SM2Certificate) -> None:
    check = verify_pdf(letter_pdf, [ca])
    assert not check.valid and "no PDF signature" in check.reason


@given(st.data())
def test_any_contents_in_the_gap_gives_an_answer_never_an_exception(
    signed: bytes, data: st.DataObject
) -> None:
    _, b, c, _ = _byte_range(signed)
    der = bytearray(bytes.fromhex(signed[b + 1 : c - 1].decode()))
    for _ in range(data.draw(st.integers(1, 8), label="changes")):
        position = data.draw(st.integers(0, 800), label="position")
        der[position] = data.draw(st.integers(0, 255), label="byte")
    tampered = signed[: b + 1] + der.hex().encode() + signed[c - 1 :]
    assert len(tampered) == len(signed)
    check = verify_pdf(tampered, [signer_cert_of(signed)])
    # Valid stays possible (a change in the zero padding or in an unused embedded CA certificate).
    assert isinstance(check, PdfSignatureCheck) and (check.valid or check.reason)


def test_truncated_signed_file_is_invalid(signed: bytes, ca: SM2Certificate) -> None:
    for cut in (len(signed) // 3, len(signed) - 400, len(signed) - 1):
        assert not verify_pdf(signed[:cut], [ca]).valid


def test_wrong_argument_types_raise_type_error(signed: bytes, ca: SM2Certificate) -> None:
    with pytest.raises(TypeError):
        verify_pdf(signed.decode("latin-1"), [ca])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        verify_pdf(signed, [ca.to_pem()])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        verify_pdf(signed, ca)  # type: ignore[arg-type]


def test_sign_refuses_mismatched_key_naive_time_and_non_pdf(
    letter_pdf: bytes, signer_key: SM2PrivateKey, signer_cert: SM2Certificate
) -> None:
    with pytest.raises(ValueError, match="does not match"):
        sign_pdf(letter_pdf, SM2PrivateKey.generate(), signer_cert)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_pdf(letter_pdf, signer_key, signer_cert, signing_time=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="not a readable PDF"):
        sign_pdf(b"not a pdf at all", signer_key, signer_cert)
