"""The tender profile: defaults, round trip through JSON, and refusals that name the setting."""

from __future__ import annotations

import json

import pytest

from baohan.gm import Layout
from baohan.protocols.tender.profile import TenderProfile


def test_defaults_are_the_tender_wire_defaults() -> None:
    profile = TenderProfile()
    assert profile.sign == "hmac-sm3"
    assert profile.body == "json"
    assert profile.sm4_key_text == "hex"
    assert profile.file_digest == "md5"
    assert profile.sm2_layout is Layout.C1C3C2 and profile.sm2_prefix and profile.encoding == "base64"
    assert profile.slice_size == 1048576 and profile.max_clock_skew_seconds == 300
    assert profile.uses_cancel and not profile.fixed_file_key and not profile.upload_before_notice
    assert not profile.amounts_as_numbers and profile.platformcode == ""


def test_round_trip_through_json() -> None:
    profile = TenderProfile(
        sign="sm3-key",
        body="form",
        sm4_key_text="ascii",
        fixed_file_key=True,
        upload_before_notice=True,
        file_digest="sm3",
        amounts_as_numbers=True,
        uses_cancel=False,
        sm2_layout=Layout.ASN1,
        sm2_prefix=False,
        encoding="hex",
        slice_size=65536,
        max_clock_skew_seconds=60,
        platformcode="P001",
    )
    stored = json.loads(json.dumps(profile.to_dict()))
    assert TenderProfile.from_dict(stored) == profile
    assert TenderProfile.from_dict(None) == TenderProfile()
    assert TenderProfile.from_dict({"sm2_layout": "c1c2c3"}).sm2_layout is Layout.C1C2C3


def test_unknown_settings_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown settings: amount_name, sing"):
        TenderProfile.from_dict({"sing": "sm3", "amount_name": "x"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sign": "md5"}, "profile.sign must be one of"),
        ({"body": "xml"}, "profile.body must be one of"),
        ({"sm4_key_text": "b64"}, "profile.sm4_key_text"),
        ({"file_digest": "sha1"}, "profile.file_digest"),
        ({"encoding": "b32"}, "profile.encoding"),
        ({"sm2_layout": "c3c1c2"}, "profile.sm2_layout"),
        ({"uses_cancel": "yes"}, "profile.uses_cancel must be true or false"),
        ({"fixed_file_key": 1}, "profile.fixed_file_key"),
        ({"slice_size": 8}, "profile.slice_size must be a whole number of at least 16"),
        ({"slice_size": True}, "profile.slice_size"),
        ({"max_clock_skew_seconds": -1}, "profile.max_clock_skew_seconds"),
        ({"platformcode": "x" * 51}, "profile.platformcode"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TenderProfile.from_dict(settings)
