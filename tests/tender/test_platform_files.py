"""The platform refuses a guarantee file that is not whole and right, naming what is wrong, and keeps
nothing of it: slices missing or extra, a corrupted slice, a key sealed for someone else, a wrong digest, a
tampered OFD, a plain guarantee carrying another sealed one. A corrected completion is then accepted."""

from __future__ import annotations

import io
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

from baohan.gm import SM2PrivateKey
from baohan.protocols.tender.client import TenderRefused
from tests.documents.ofd.conftest import KIT, make_kit
from tests.tender.platform_kit import (
    Platform,
    applied,
    approved,
    completion,
    encrypt,
    plain_ofd,
    platform,
    sealed_ofd,
    upload,
)


def _complete(p: Platform, applyno: str, baohanno: str, fields: dict[str, str], match: str) -> None:
    with pytest.raises(TenderRefused, match=match):
        p.institution.call("baohanfilecompletenotice", **fields)
    assert p.role.application(applyno).stage == "approved"


def _tampered(ofd: bytes) -> bytes:
    """``ofd`` with one page's text changed after sealing (re-zipped, every other part as it was)."""
    source = zipfile.ZipFile(io.BytesIO(ofd))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("Content.xml") and "Pages" in info.filename:
                data = data.replace("保函".encode(), "保单".encode(), 1)
            target.writestr(info, data)
    return out.getvalue()


def test_missing_and_extra_slices_are_named_and_the_file_completes_once_whole(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, baohanno = approved(p)
        file = encrypt(sealed_ofd(p, applyno, baohanno))
        count = len(file.slices)
        upload(p, applyno, baohanno, file, order=[n for n in range(count, 0, -1) if n != 2])
        fields = completion(applyno, baohanno, file)
        _complete(p, applyno, baohanno, fields, "index: slices 2 are missing")
        upload(p, applyno, baohanno, file, order=[2])
        p.institution.call("baohanfilecompletenotice", **fields)
        assert p.role.application(applyno).stage == "sealed_completed"

        _, other, number = approved(p)
        twice = encrypt(sealed_ofd(p, other, number))
        upload(p, other, number, twice)
        extra = twice.slices[-1]
        twice.slices.append(extra)  # one slice more than the file has
        upload(p, other, number, twice, order=[len(twice.slices)])
        _complete(p, other, number, completion(other, number, twice), f"slices {len(twice.slices)} are extra")


def test_a_corrupted_slice_a_wrong_key_and_a_wrong_digest_are_refused(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, baohanno = approved(p)
        file = encrypt(sealed_ofd(p, applyno, baohanno))
        upload(p, applyno, baohanno, file)
        right = completion(applyno, baohanno, file)
        stranger = completion(applyno, baohanno, file, for_key=SM2PrivateKey.generate())
        _complete(
            p, applyno, baohanno, {**right, "key": stranger["key"]}, "key: does not open with our SM2 key"
        )
        other = encrypt(b"another file")
        wrong = completion(applyno, baohanno, other)
        _complete(p, applyno, baohanno, {**right, "key": wrong["key"]}, "bad padding|baohanfilemd5")
        _complete(p, applyno, baohanno, {**right, "baohanfilemd5": "0" * 32}, "baohanfilemd5: expected 0000")
        _complete(
            p, applyno, baohanno, {**right, "baohanfilemd5": "abc"}, "baohanfilemd5: must be the md5 digest"
        )
        p.institution.call("baohanfilecompletenotice", **right)  # nothing of the refusals was kept
        assert p.role.application(applyno).stage == "sealed_completed"

        _, second, number = approved(p)
        broken = encrypt(sealed_ofd(p, second, number))
        middle = bytearray(broken.slices[1])
        middle[100] ^= 0x01
        broken.slices[1] = bytes(middle)
        upload(p, second, number, broken)
        _complete(
            p, second, number, completion(second, number, broken), "baohanfilemd5: expected|does not verify"
        )


def test_a_tampered_guarantee_is_refused_and_sm3_digests_are_checked(db_url: str) -> None:
    with platform(db_url, file_digest="sm3") as p:
        _, applyno, baohanno = approved(p)
        file = encrypt(_tampered(sealed_ofd(p, applyno, baohanno)), digest="sm3")
        upload(p, applyno, baohanno, file)
        _complete(
            p, applyno, baohanno, completion(applyno, baohanno, file), "does not verify: the SM3 digest"
        )

        _, second, number = approved(p)
        good = encrypt(sealed_ofd(p, second, number), digest="sm3")
        upload(p, second, number, good)
        p.institution.call("baohanfilecompletenotice", **completion(second, number, good))
        assert p.role.application(second).stage == "sealed_completed"


def test_the_plain_guarantee_must_carry_the_sealed_one_we_hold(db_url: str) -> None:
    with platform(db_url) as p:
        section, applyno, baohanno = approved(p)
        sealed = sealed_ofd(p, applyno, baohanno)
        file = encrypt(sealed)
        upload(p, applyno, baohanno, file)
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, file))
        with pytest.raises(TenderRefused, match="restore refused: the bid opens at"):
            upload(p, applyno, baohanno, encrypt(b"too early"), "2", order=[1])
        p.role.open_section_now(section)
        p.deliver()
        other_sealed = sealed_ofd(p, applyno, baohanno)  # issued again: another document
        plain = encrypt(plain_ofd(p, applyno, baohanno, other_sealed))
        upload(p, applyno, baohanno, plain, "2")
        with pytest.raises(TenderRefused, match="not the one we hold"):
            p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, plain, "2"))
        assert p.role.application(applyno).stage == "restoring"


def test_slices_for_an_unknown_application_or_guarantee_are_refused(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno = applied(p)
        file = encrypt(b"x" * 100)
        with pytest.raises(TenderRefused, match="no sealed guarantee expected"):
            upload(p, applyno, "G-1", file, order=[1])
        with pytest.raises(TenderRefused, match="applyno: nope is not an application"):
            upload(p, "nope", "G-1", file, order=[1])
        _, second, number = approved(p)
        with pytest.raises(TenderRefused, match="baohanno: G-other is not this application's"):
            upload(p, second, "G-other", file, order=[1])
        with pytest.raises(TenderRefused, match="no slice of the sealed guarantee"):
            p.institution.call("baohanfilecompletenotice", **completion(second, number, file))


def test_slices_sent_at_once_are_all_kept(db_url: str) -> None:
    with platform(db_url) as p:
        _, applyno, baohanno = approved(p)
        file = encrypt(sealed_ofd(p, applyno, baohanno))
        numbers = list(range(1, len(file.slices) + 1))
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: upload(p, applyno, baohanno, file, order=[n, n]), numbers))
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, file))
        assert p.role.application(applyno).stage == "sealed_completed"


def test_seals_must_chain_to_the_trusted_cas_when_they_are_given(db_url: str) -> None:
    stranger = make_kit("某陌生担保公司")
    with platform(db_url, trusted=[stranger.ca]) as p:
        _, applyno, baohanno = approved(p)
        file = encrypt(sealed_ofd(p, applyno, baohanno))
        upload(p, applyno, baohanno, file)
        _complete(
            p,
            applyno,
            baohanno,
            completion(applyno, baohanno, file),
            "does not verify: the signer's certificate",
        )


def test_a_seal_of_a_trusted_ca_is_accepted(db_url: str) -> None:
    with platform(db_url, trusted=[KIT.ca]) as p:
        _, applyno, baohanno = approved(p)
        file = encrypt(sealed_ofd(p, applyno, baohanno))
        upload(p, applyno, baohanno, file)
        p.institution.call("baohanfilecompletenotice", **completion(applyno, baohanno, file))
        assert p.role.application(applyno).stage == "sealed_completed"
