"""The bidder's link token: it names the application it was made for and nothing else; any other text
(guessed, altered, another key store's, another use's sealed value) is an unknown token."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baohan.adapters.keystore import SecretBox
from baohan.domain.ids import new_id
from baohan.services.tender.bidder_desk import UnknownToken
from baohan.services.tender.bidder_links import TOKEN_MAX, application_of, link_token

BOX = SecretBox("tender link test passphrase")
OTHER = SecretBox("another institution's passphrase")
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@given(st.uuids())
def test_a_token_names_its_application(app_id: object) -> None:
    token = link_token(BOX, str(app_id))
    assert URL_SAFE.fullmatch(token) and len(token) <= TOKEN_MAX
    assert application_of(BOX, token) == str(app_id)


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~.", max_size=220))
def test_any_other_text_is_unknown(text: str) -> None:
    with pytest.raises(UnknownToken):
        application_of(BOX, text)


@given(st.integers(min_value=0, max_value=150), st.sampled_from("AQgw"))
def test_an_altered_token_is_unknown(position: int, replacement: str) -> None:
    token = link_token(BOX, new_id())
    altered = token[:position] + replacement + token[position + 1 :]
    if altered != token:
        with pytest.raises(UnknownToken):
            application_of(BOX, altered)


def test_tokens_of_another_key_store_or_use_are_unknown() -> None:
    app_id = new_id()
    with pytest.raises(UnknownToken):
        application_of(BOX, link_token(OTHER, app_id))
    sealed_elsewhere = BOX.seal(b"0123456789abcdef", context="tender:another-use")
    with pytest.raises(UnknownToken):
        application_of(
            BOX, sealed_elsewhere.removeprefix("bh2$").replace("+", "-").replace("/", "_").rstrip("=")
        )
    assert link_token(BOX, app_id) != link_token(BOX, app_id)  # fresh each time, each one valid
