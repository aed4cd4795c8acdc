"""Our signing identity cannot be replaced by accident; a replaced one is retired, and its letters still verify.

The name on our letters is the one our signing certificate gives, and a claimed name that differs is refused.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from baohan.adapters.db.tables import OwnKey, RetiredKey
from baohan.adapters.keystore import SecretBox
from baohan.gm import SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.procurement.client import ProcurementClient
from baohan.protocols.procurement.envelope import Channel
from baohan.services.procurement.issuer import institution_name
from baohan.services.procurement.registry import Registry
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import open_runtime
from baohan.services.registry import IdentityExists, key_context, reseal_all
from tests.procurement.harness import APPID, APPKEY, APPSECRET, PASSPHRASE, running_pair
from tests.procurement.test_lifecycle import approve_and_issue

BOX = SecretBox(PASSPHRASE)


def certified(name: str) -> tuple[SM2PrivateKey, object, object]:
    ca_key, key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    ca = make_ca(f"CN={name} CA,C=CN", ca_key)
    return key, issue_certificate(ca, ca_key, f"CN={name} signing,O={name},C=CN", key.public_key), ca


def test_a_second_identity_needs_replace_and_the_first_is_retired_not_deleted(
    sessions: Callable[[], Session],
) -> None:
    registry = Registry(sessions, reseal_all(sessions, BOX))
    first_key, first_cert, first_ca = certified("甲担保")
    registry.add_identity("default", first_key, first_cert, first_ca)  # type: ignore[arg-type]
    registry.add_identity("default", first_key, first_cert, first_ca)  # the same again: nothing to replace
    second_key, second_cert, second_ca = certified("乙担保")
    with pytest.raises(IdentityExists, match="'default' is already set"):
        registry.add_identity("default", second_key, second_cert, second_ca)  # type: ignore[arg-type]
    assert registry.identity().key.to_bytes() == first_key.to_bytes()  # untouched
    assert registry.retired() == []

    replaced = registry.add_identity("default", second_key, second_cert, second_ca, replace=True)  # type: ignore[arg-type]
    assert replaced.key.to_bytes() == second_key.to_bytes() and replaced.certificate == second_cert
    assert replaced.trusted() == [second_cert, second_ca, first_cert, first_ca]
    (retired,) = registry.retired()
    assert retired.public_key == first_key.public_key.to_hex() and retired.certificate == first_cert
    with sessions() as session:
        row = session.scalars(select(RetiredKey)).one()
        assert row.private_key_sealed.startswith("bh2$")  # kept sealed, bound to its new record
        assert row.private_key_sealed != session.get(OwnKey, "default").private_key_sealed  # type: ignore[union-attr]
    assert reseal_all(sessions, BOX) is not None  # re-sealing knows the retired rows
    with pytest.raises(Exception, match="altered or belongs to another record"):
        BOX.open(row.private_key_sealed, context=key_context("default"))


def test_a_letter_signed_by_a_retired_certificate_still_verifies(tmp_path: Path) -> None:
    with running_pair(f"sqlite:///{tmp_path}/issuer.db", f"sqlite:///{tmp_path}/platform.db") as pair:
        approve_and_issue(pair, "OLD-1")
        old_pdf = pair.issuer_admin.get("/admin/applications/OLD-1/file").content
        old_id = pair.issuer_app("OLD-1")["guarantee_id"]
        # The certificate is renewed by another CA, the key kept (so the envelope stays as it was).
        ca_key = SM2PrivateKey.generate()
        new_ca = make_ca("CN=Renewal CA,C=CN", ca_key)
        renewed = issue_certificate(
            new_ca, ca_key, "CN=示范担保有限公司,O=示范担保有限公司,C=CN", pair.issuer_key.public_key
        )
        with pytest.raises(IdentityExists):
            pair.issuer.registry.add_identity("default", pair.issuer_key, renewed, new_ca)
        pair.issuer.registry.add_identity("default", pair.issuer_key, renewed, new_ca, replace=True)
        client = ProcurementClient(
            pair.issuer_endpoint,
            Channel(APPID, APPKEY, APPSECRET, pair.platform_key, pair.issuer_key.public_key),
        )
        answer = client.send(
            "ELY104", {"guaranteeId": old_id, "guaranteeData": base64.b64encode(old_pdf).decode()}
        )
        assert answer.data is not None and answer.data["status"] == "01", answer.message
        assert answer.data["certNum"] == pair.issuer_cert.info().serial  # signed by the retired one
        new = approve_and_issue(pair, "NEW-1")  # the platform's own ELY104 of a new letter
        assert new["verification"]["status"] == "01"
        assert new["verification"]["certNum"] == renewed.info().serial


def test_the_letters_name_is_the_certificates_and_another_claimed_name_is_refused(tmp_path: Path) -> None:
    key, cert, ca = certified("丙担保")
    runtime = open_runtime("issuer", f"sqlite:///{tmp_path}/i.db", BOX)
    try:
        identity = runtime.registry.add_identity("default", key, cert, ca)  # type: ignore[arg-type]
    finally:
        runtime.stop()
    assert institution_name(identity) == "丙担保" == institution_name(identity, "丙担保")
    with pytest.raises(
        OperatorError, match="'baohan 示范担保有限公司' is not the name our signing certificate"
    ):
        institution_name(identity, "baohan 示范担保有限公司")
    # A server told another name than its certificate's refuses to open, before serving anything.
    with pytest.raises(OperatorError, match="is not the name our signing certificate gives"):
        open_runtime("issuer", f"sqlite:///{tmp_path}/i.db", BOX, institution_name="某某担保")
    open_runtime("issuer", f"sqlite:///{tmp_path}/i.db", BOX, institution_name="丙担保").stop()


def test_set_identity_refuses_to_replace_without_replace(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/issuer.db"
    env = {**os.environ, "BAOHAN_KEY_PASSPHRASE": PASSPHRASE}

    def set_identity(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "baohan.cli.main",
                "issuer",
                "set-identity",
                "--db",
                db,
                "--test-ca",
                *extra,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    first = set_identity()
    assert first.returncode == 0, first.stderr
    again = set_identity()
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert again.stderr.startswith("error: identity 'default' is already set") and "--replace" in again.stderr
    replaced = set_identity("--replace")
    assert replaced.returncode == 0, replaced.stderr
    runtime = open_runtime("issuer", db, BOX, migrate=False)
    try:
        assert len(runtime.registry.retired()) == 1
    finally:
        runtime.stop()
