"""The tender registry: counterparties named by appkey, their profile checked, kept apart from procurement."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey
from baohan.protocols.tender.profile import TenderProfile
from baohan.services.procurement.registry import Registry as ProcurementRegistry
from baohan.services.tender.registry import Registry

BOX = SecretBox("tender registry test passphrase")
PLATFORM_KEY = SM2PrivateKey.generate().public_key


def registry(sessions: sessionmaker[Session]) -> Registry:
    tender = Registry(sessions, BOX, counterparty_role="platform")
    tender.add_identity("default", SM2PrivateKey.generate())
    return tender


def test_a_counterparty_is_named_and_found_by_its_appkey(sessions: sessionmaker[Session]) -> None:
    tender = registry(sessions)
    peer = tender.add(
        name="Trading centre",
        role="platform",
        appkey="TC-APPKEY-1",
        appsecret="s3cret",
        public_key=PLATFORM_KEY,
        profile={"platformcode": "TC001", "sign": "sm3-appsecret"},
    )
    found = tender.peer_by_appkey("TC-APPKEY-1")
    assert found is not None and found.id == peer.id
    channel = found.channel
    assert (channel.appkey, channel.appsecret, channel.peer_key) == ("TC-APPKEY-1", "s3cret", PLATFORM_KEY)
    assert channel.profile == TenderProfile(platformcode="TC001", sign="sm3-appsecret")
    assert "s3cret" not in repr(channel)
    [listed] = tender.listing()
    assert (listed.protocol, listed.appid, listed.appkey) == ("tender", "TC-APPKEY-1", "TC-APPKEY-1")


def test_a_rotated_appkey_renames_the_counterparty(sessions: sessionmaker[Session]) -> None:
    tender = registry(sessions)
    first = tender.add(name="A", role="platform", appkey="K1", appsecret="s", public_key=PLATFORM_KEY)
    tender.add(name="B", role="platform", appkey="K2", appsecret="s", public_key=PLATFORM_KEY)
    tender.rotate(first.id, appkey="K3")
    assert tender.peer_by_appkey("K1") is None
    renamed = tender.peer_by_appkey("K3")
    assert renamed is not None and renamed.id == first.id and renamed.channel.appkey == "K3"
    with pytest.raises(ValueError, match="appkey K2 is already registered for a tender platform"):
        tender.rotate(first.id, appkey="K2")
    assert tender.peer_by_appkey("K3") is not None
    with pytest.raises(ValueError, match="appkey must be 1 to 50 characters"):
        tender.rotate(first.id, appkey="K" * 51)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"appkey": "K" * 51}, "appkey must be 1 to 50 characters"),
        ({"profile": {"sign": "md5"}}, "profile.sign must be one of"),
        ({"profile": {"colour": "red"}}, "profile has unknown settings: colour"),
        ({"role": "institution"}, "this registry keeps platform counterparties, not institution"),
    ],
)
def test_bad_registrations_are_refused_by_name(
    sessions: sessionmaker[Session], change: dict[str, object], why: str
) -> None:
    tender = registry(sessions)
    fields: dict[str, object] = {
        "name": "A",
        "role": "platform",
        "appkey": "K1",
        "appsecret": "s",
        "public_key": PLATFORM_KEY,
        **change,
    }
    with pytest.raises(ValueError, match=why):
        tender.add(**fields)  # type: ignore[arg-type]
    assert tender.listing() == []


def test_appid_must_be_the_appkey(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="named by its appkey: appid must equal it"):
        registry(sessions).add_counterparty(
            name="A", role="platform", appid="X", appkey="K1", appsecret="s", public_key=PLATFORM_KEY
        )


def test_tender_and_procurement_keep_apart_in_one_database(sessions: sessionmaker[Session]) -> None:
    tender = registry(sessions)
    procurement = ProcurementRegistry(sessions, BOX, counterparty_role="platform")
    procurement.add_counterparty(
        name="P", role="platform", appid="SAME", appkey="pk", appsecret="p", public_key=PLATFORM_KEY
    )
    tender.add(name="T", role="platform", appkey="SAME", appsecret="t", public_key=PLATFORM_KEY)
    found = tender.peer_by_appkey("SAME")
    assert found is not None and found.channel.appsecret == "t"
    assert [item.name for item in tender.listing()] == ["T"]
    assert [item.name for item in procurement.listing()] == ["P"]
