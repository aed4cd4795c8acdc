"""Every admin API error is one JSON shape, ``{"code", "message"}``, on both databases: never a 500 for an
operator's mistake, never a non-JSON answer, a NUL character refused before it reaches the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from baohan.adapters.keystore import SecretBox
from baohan.protocols.procurement.codes import Code
from baohan.services.procurement import views
from baohan.services.procurement.runtime import RoleRuntime, open_runtime
from baohan.web.procurement import create_app
from tests.procurement.harness import application_fields, inbound, register_platform

TOKEN = "admin-errors-token-0001"


@pytest.fixture
def issuer(db_url: str) -> Iterator[tuple[RoleRuntime, TestClient]]:
    runtime = open_runtime("issuer", db_url, SecretBox("admin errors passphrase"))
    register_platform(runtime.registry)
    assert runtime.service.handle(inbound("ELY101", application_fields("ADM-1"), "1" * 32)).code is Code.OK
    app = create_app(runtime, admin_token=TOKEN, run_dispatcher=False).admin
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    yield runtime, client
    client.close()
    runtime.stop()


def error(reply: Any, status: int, code: str) -> str:
    """The answer's ``detail``, after checking it is ``status`` with the one error shape and ``code``."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json"), reply.text
    body = reply.json()
    assert body["code"] == code and isinstance(body["message"], str) and "\n" not in body["message"], body
    return str(body["message"])


def test_retrying_an_unknown_outbox_message_is_a_json_404(issuer: tuple[RoleRuntime, TestClient]) -> None:
    _, client = issuer
    assert error(client.post("/admin/outbox/zzz/retry"), 404, "not_found") == "no outbox message zzz"


def test_a_nul_character_in_an_admin_request_is_refused(issuer: tuple[RoleRuntime, TestClient]) -> None:
    _, client = issuer
    assert "NUL" in error(client.get("/admin/applications/a%00b"), 404, "not_found")
    assert "NUL" in error(client.get("/admin/applications/a%00b/history"), 404, "not_found")
    assert "NUL" in error(client.post("/admin/outbox/a%00b/retry"), 404, "not_found")
    assert error(client.get("/admin/applications?stage=a%00b"), 422, "invalid").startswith("query.stage")
    refused = client.post("/admin/applications/ADM-1/reject", json={"reason": "bad\u0000reason"})
    assert error(refused, 422, "invalid").startswith("body.reason")
    nested = client.post("/admin/counterparties/x/rotate", json={"profile": {"a": ["ok", "\u0000"]}})
    assert error(nested, 422, "invalid").startswith("body.profile.a.1")


def test_operator_mistakes_have_codes(issuer: tuple[RoleRuntime, TestClient]) -> None:
    _, client = issuer
    assert error(client.get("/admin/applications/NOPE"), 404, "not_found") == "no application NOPE"
    assert "cannot approve" in error(client.post("/admin/applications/ADM-1/approve"), 409, "conflict")
    bad = client.post(
        "/admin/applications/ADM-1/payments", json={"amount": "1.234", "paid_at": "2026-11-23T10:00:00+08:00"}
    )
    assert error(bad, 422, "invalid").startswith("body.amount")
    assert bad.json()["errors"][0]["field"] == "body.amount"
    anonymous = TestClient(client.app).get("/admin/applications")
    assert "Bearer" in error(anonymous, 401, "unauthorized")


def test_an_unexpected_failure_is_a_json_500_without_its_text(
    issuer: tuple[RoleRuntime, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = issuer

    def broken(*_: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "applications", broken)
    detail = error(client.get("/admin/applications"), 500, "internal")
    assert "secret internals" not in detail
