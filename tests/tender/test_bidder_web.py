"""The bidder router's HTTP answers, without a browser: refusals are JSON naming the field, never a 5xx."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from baohan.services.tender.bidder_desk import DeskState
from baohan.web.bidder import SM_CRYPTO_ENV, SmCryptoMissing, bidder_router, sm_crypto_dir
from tests.tender.bidder_kit import StoreDesk, make_bidder, seal_application


@pytest.fixture
def setup(tmp_path: Path):
    bidder = make_bidder()
    desk = StoreDesk(seal_application(bidder), [bidder.ca], tmp_path / "issuer.db")
    app = FastAPI()
    app.include_router(bidder_router(desk.desk))
    with TestClient(app) as client:
        yield client, desk, bidder
    desk.close()


def test_the_page_carries_the_sealed_application_and_strict_headers(setup) -> None:
    client, desk, _ = setup
    answer = client.get(f"/bidder/{desk.token}")
    assert answer.status_code == 200
    assert desk.sealed.digitalenvelope in answer.text and desk.sealed.applyno in answer.text
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert (
        answer.headers["referrer-policy"] == "no-referrer" and answer.headers["cache-control"] == "no-store"
    )


def test_an_unknown_token_is_a_404_page(setup) -> None:
    client, *_ = setup
    for token in ("nobody-here", "bad%20token"):
        answer = client.get(f"/bidder/{token}")
        assert answer.status_code == 404 and 'id="unknown"' in answer.text


def test_assets_are_sm_crypto_and_ours_only(setup) -> None:
    client, *_ = setup
    assert client.get("/bidder/assets/sm2.js").content == (sm_crypto_dir() / "sm2.js").read_bytes()
    assert "doSignature" in client.get("/bidder/assets/bidder.js").text
    assert client.get("/bidder/assets/peer.js").status_code == 404
    assert client.get("/bidder/assets/..%2f..%2fpyproject.toml").status_code == 404


def test_a_wrong_key_is_refused_as_json_and_changes_nothing(setup) -> None:
    client, desk, _ = setup
    wrong = bytes(b ^ 0x55 for b in desk.sealed.key).hex()
    answer = client.post(f"/bidder/{desk.token}/key", json={"key": wrong})
    assert answer.status_code == 422
    assert answer.json()["field"] == "key" and "does not open applydata" in answer.json()["message"]
    assert desk.state is DeskState.SEALED
    assert client.get(f"/bidder/{desk.token}/agreement").json()["field"] == "state"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (b"{}", "key"),
        (b'{"key": 5}', "key"),
        (b"x" * 70000, "body"),
        (b"[" * 40 + b"]" * 40, "body"),
    ],
)
def test_malformed_offers_are_refused_naming_the_field(setup, body: bytes, field: str) -> None:
    client, desk, _ = setup
    answer = client.post(
        f"/bidder/{desk.token}/key", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422 and answer.json()["field"] == field
    assert desk.state is DeskState.SEALED


def test_an_offer_that_is_not_sent_as_json_is_refused(setup) -> None:
    client, desk, _ = setup
    body = json.dumps({"key": desk.sealed.key.hex()})
    answer = client.post(f"/bidder/{desk.token}/key", content=body, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 422 and "Content-Type: application/json" in answer.json()["message"]
    assert desk.state is DeskState.SEALED


def test_key_then_agreement_then_signature(setup) -> None:
    client, desk, bidder = setup
    opened = client.post(f"/bidder/{desk.token}/key", json={"key": desk.sealed.key.hex()})
    assert opened.status_code == 200 and opened.json()["readable"]["bzjamount"] == "80000.00"
    agreement = client.get(f"/bidder/{desk.token}/agreement")
    assert agreement.headers["content-type"] == "text/plain; charset=utf-8"
    forged = base64.b64encode(make_bidder().key.sign(agreement.content)).decode()
    refused = client.post(
        f"/bidder/{desk.token}/signature",
        json={"certificate": bidder.certificate.to_pem(), "signature": forged},
    )
    assert refused.status_code == 422 and refused.json()["field"] == "signature"
    assert desk.state is DeskState.OPENED
    signature = base64.b64encode(bidder.key.sign(agreement.content)).decode()
    signed = client.post(
        f"/bidder/{desk.token}/signature",
        json={"certificate": bidder.certificate.to_pem(), "signature": signature},
    )
    assert signed.status_code == 200 and signed.json()["state"] == "signed"
    assert desk.signer == bidder.certificate


def test_an_unknown_token_in_a_call_is_a_404(setup) -> None:
    client, *_ = setup
    assert client.post("/bidder/nobody/key", json={"key": "00" * 16}).status_code == 404


def test_a_missing_sm_crypto_is_a_clear_error_at_start(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(SM_CRYPTO_ENV, str(tmp_path))
    with pytest.raises(SmCryptoMissing, match=r"install-browser-js\.sh.*BAOHAN_SM_CRYPTO_JS"):
        bidder_router(StoreDesk(seal_application(make_bidder()), [], tmp_path / "issuer.db").desk)
