"""The admin API as an operator and a client generator meet it: real schemas and an HTTP bearer scheme in
OpenAPI, a docs page that loads from this server alone, paged and filtered listings, claims and refunds
that name their application and guarantee, Beijing times, and one token per operator in the audit trail."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from baohan.adapters.db.tables import AdminOperator
from baohan.adapters.keystore import SecretBox
from baohan.protocols.procurement.codes import Code
from baohan.services.operators import Operators
from baohan.services.procurement.pairing import certify_issuer
from baohan.services.procurement.runtime import DEFAULT_RULES, RoleRuntime, open_runtime
from baohan.services.views import OPERATOR_ZONE
from baohan.web.procurement import create_app
from tests.procurement.harness import ADMIN, application_fields, ely105_fields, inbound, register_platform

PASSPHRASE = "admin api test passphrase"
BEIJING_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00")


@pytest.fixture
def runtime(db_url: str) -> Iterator[RoleRuntime]:
    """An issuer (refunds decided by an operator) with A-1 issued and claimed on, A-2 approved and asked
    to be cancelled."""
    rules = dataclasses.replace(DEFAULT_RULES, refunds_by_operator=True)
    runtime = open_runtime("issuer", db_url, SecretBox(PASSPHRASE), rules=rules)
    certify_issuer(runtime.registry, "示范担保有限公司")  # the identity register_platform would not replace
    register_platform(runtime.registry)
    for n, key in enumerate(("A-1", "A-2")):
        assert runtime.service.handle(inbound("ELY101", application_fields(key), str(n) * 32)).code is Code.OK
    yield runtime
    runtime.stop()


def client(runtime: RoleRuntime, token: str | None = ADMIN) -> TestClient:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return TestClient(create_app(runtime, admin_token=ADMIN, run_dispatcher=False).admin, headers=headers)


def issue_and_claim(runtime: RoleRuntime, admin: TestClient) -> dict[str, Any]:
    """Pay A-1 (issued at once), claim on it, ask to cancel A-2; A-1 as the admin API shows it."""
    premium = admin.get("/admin/applications/A-1").json()["premium"]
    paid = admin.post(
        "/admin/applications/A-1/payments", json={"amount": premium, "paid_at": "2026-11-30T09:00:00+08:00"}
    )
    assert paid.status_code == 200, paid.text
    live = paid.json()
    assert live["stage"] == "issued"
    claim = ely105_fields(live)
    assert runtime.service.handle(inbound("ELY105", claim, "c" * 32)).code is Code.OK
    cancel = {"applicationId": "A-2", "applicationType": "02", "refundReason": "不再需要"}
    assert runtime.service.handle(inbound("ELY109", cancel, "d" * 32)).code is Code.OK
    return live  # type: ignore[no-any-return]


# -- OpenAPI and the docs page ------------------------------------------------------------------------------


def test_openapi_shows_a_schema_for_every_admin_answer_and_a_bearer_scheme(runtime: RoleRuntime) -> None:
    spec = client(runtime, None).get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in spec["components"]["schemas"] | schemes)
    assert [s for s in schemes.values() if s == {**s, "type": "http", "scheme": "bearer"}], schemes
    operations = [
        (path, method, op)
        for path, item in spec["paths"].items()
        if path.startswith("/admin")
        for method, op in item.items()
    ]
    assert len(operations) > 15
    for path, method, op in operations:
        assert op.get("security"), f"{method} {path} names no security scheme"
        [(status, answer)] = [(s, a) for s, a in op["responses"].items() if s.startswith("2")]
        content = answer.get("content", {})
        schema = next(iter(content.values()))["schema"] if content else {}
        assert schema not in ({}, {"title": "Response"}), f"{method} {path} {status} has no schema"
        if path.endswith("/file"):
            continue
        assert "$ref" in schema, f"{method} {path} answers an untyped {schema}"


def test_every_field_name_in_the_admin_api_is_snake_case(runtime: RoleRuntime) -> None:
    spec = client(runtime, None).get("/openapi.json").json()
    names = {
        (model, field)
        for model, schema in spec["components"]["schemas"].items()
        for field in schema.get("properties", {})
    }
    names |= {
        (f"{path} {method}", parameter["name"])
        for path, item in spec["paths"].items()
        for method, op in item.items()
        for parameter in op.get("parameters", [])
    }
    assert {n for n in names if not re.fullmatch(r"[a-z][a-z0-9_]*", n[1])} == set()


def test_the_docs_page_loads_from_this_server_alone(runtime: RoleRuntime) -> None:
    browser = client(runtime, None)
    page = browser.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"(https?:)?//[a-z0-9]", page.text, re.IGNORECASE), "the page names another host"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {a.rsplit(".", 1)[-1] for a in assets} == {"js", "css", "png"}
    for asset in assets:
        loaded = browser.get(asset)
        assert loaded.status_code == 200 and len(loaded.content) > 1000, asset
    assert '"validatorUrl": null' in page.text  # Swagger UI would otherwise call an online validator
    assert browser.get("/openapi.json").json()["paths"]


# -- listings ------------------------------------------------------------------------------------------------


def test_listings_page_and_filter_by_stage_ids_and_dates(runtime: RoleRuntime) -> None:
    admin = client(runtime)
    live = issue_and_claim(runtime, admin)

    def listed(path: str, **params: Any) -> dict[str, Any]:
        reply = admin.get(path, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    everything = listed("/admin/applications")
    assert everything["total"] == 2 and [a["application_id"] for a in everything["items"]] == ["A-2", "A-1"]
    first = listed("/admin/applications", limit=1)
    second = listed("/admin/applications", limit=1, offset=1)
    assert (first["total"], first["limit"], first["offset"]) == (2, 1, 0)
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [a["id"] for a in everything["items"]]
    assert [a["application_id"] for a in listed("/admin/applications", stage="claimed")["items"]] == ["A-1"]
    assert listed("/admin/applications", application_id="A-2")["items"][0]["stage"] == "approved"
    assert listed("/admin/applications", guarantee_id=live["guarantee_id"])["items"][0]["id"] == live["id"]
    today = datetime.now(OPERATOR_ZONE).date()
    assert listed("/admin/applications", created_from=today.isoformat())["total"] == 2
    assert listed("/admin/applications", created_to=today.isoformat())["total"] == 2  # the whole day
    assert listed("/admin/applications", created_to=(today - timedelta(days=1)).isoformat())["total"] == 0
    tomorrow = (datetime.now(OPERATOR_ZONE) + timedelta(days=1)).replace(microsecond=0).isoformat()
    assert listed("/admin/applications", created_from=tomorrow)["total"] == 0

    assert listed("/admin/claims", status="open", guarantee_id=live["guarantee_id"])["total"] == 1
    assert listed("/admin/claims", application_id="A-2")["total"] == 0
    assert listed("/admin/refunds", kind="cancel", status="pending", application_id="A-2")["total"] == 1
    assert listed("/admin/refunds", kind="surrender")["total"] == 0
    assert listed("/admin/outbox/dead", limit=5) == {"items": [], "total": 0, "limit": 5, "offset": 0}
    assert listed("/admin/counterparties")["total"] == 1
    assert [e["event"] for e in listed("/admin/applications/A-1/history", limit=1)["items"]] == ["receive"]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/admin/applications", {"stage": "bogus"}, "stage"),
        ("/admin/claims", {"status": "closed"}, "status"),
        ("/admin/refunds", {"kind": "withdraw"}, "kind"),
        ("/admin/applications", {"limit": "0"}, "limit"),
        ("/admin/applications", {"limit": "100000"}, "limit"),
        ("/admin/applications", {"offset": "-1"}, "offset"),
        ("/admin/applications", {"created_from": "yesterday"}, "created_from"),
        ("/admin/applications", {"created_to": "2026-13-45"}, "created_to"),
        ("/admin/applications", {"created_to": "9999-12-31"}, "created_to"),
        ("/admin/outbox/dead", {"created_from": "2026-11-30T09:00:00"}, "created_from"),
        ("/admin/outbox/dead", {"destination": "a\x00b"}, "destination"),
        ("/admin/claims", {"guarantee_id": "a\x00b"}, "guarantee_id"),
        ("/admin/refunds", {"application_id": "a\x00b"}, "application_id"),
        ("/admin/applications", {"created_from": "２０２６-11-30"}, "created_from"),
    ],
)
def test_a_filter_outside_its_values_is_422_naming_it(
    runtime: RoleRuntime, path: str, params: dict[str, str], field: str
) -> None:
    reply = client(runtime).get(path, params=params)
    assert reply.status_code == 422 and field in reply.text


def test_a_time_without_its_zone_is_refused(runtime: RoleRuntime) -> None:
    reply = client(runtime).get("/admin/applications", params={"created_from": "2026-11-30T09:00:00"})
    assert reply.status_code == 422
    assert reply.json()["code"] == "invalid" and "created_from" in reply.json()["message"]


def test_claims_and_refunds_name_their_application_and_guarantee(runtime: RoleRuntime) -> None:
    admin = client(runtime)
    live = issue_and_claim(runtime, admin)
    a2 = admin.get("/admin/applications/A-2").json()
    [claim] = admin.get("/admin/claims").json()["items"]
    assert (claim["application"], claim["application_id"], claim["guarantee_id"]) == (
        live["id"],
        "A-1",
        live["guarantee_id"],
    )
    [refund] = admin.get("/admin/refunds").json()["items"]
    assert (refund["application"], refund["application_id"], refund["guarantee_id"]) == (
        a2["id"],
        "A-2",
        None,
    )
    decided = admin.post(f"/admin/refunds/{refund['id']}/decision", json={"accept": False, "reason": "不可"})
    assert decided.status_code == 200 and decided.json()["application_id"] == "A-2"
    paid = admin.post(f"/admin/claims/{claim['id']}/decision", json={"pay": True})
    assert paid.status_code == 200 and paid.json()["guarantee_id"] == live["guarantee_id"]


def test_times_are_iso_8601_in_beijing_time(runtime: RoleRuntime) -> None:
    admin = client(runtime)
    live = issue_and_claim(runtime, admin)
    times = [live[name] for name in ("created_at", "updated_at", "issued_at", "valid_from", "paid_at")]
    [claim] = admin.get("/admin/claims").json()["items"]
    [event] = admin.get("/admin/applications/A-1/history", params={"limit": 1}).json()["items"]
    [peer] = admin.get("/admin/counterparties").json()["items"]
    times += [claim["created_at"], event["at"], peer["created_at"]]
    assert all(BEIJING_TIME.fullmatch(t) for t in times), times
    # The payment was made at 09:00 Beijing time, and is shown so.
    assert live["paid_at"] == "2026-11-30T09:00:00+08:00"


# -- operators -----------------------------------------------------------------------------------------------


def test_each_operator_has_a_token_and_the_audit_trail_names_who_acted(runtime: RoleRuntime) -> None:
    operators = Operators(runtime.runtime.sessions)
    alice = operators.add("alice")
    issue_and_claim(runtime, client(runtime, alice))
    history = client(runtime).get("/admin/applications/A-1/history").json()["items"]
    assert {e["actor"] for e in history if e["event"] in ("pay", "issue")} == {"alice"}
    [refund] = client(runtime).get("/admin/refunds").json()["items"]
    decided = client(runtime).post(f"/admin/refunds/{refund['id']}/decision", json={"accept": True})
    assert decided.json()["decided_by"] == "admin"  # the token given at start is the operator "admin"

    # Kept as a digest only; revoked, the token opens nothing.
    with runtime.runtime.sessions() as session:
        stored = session.scalars(select(AdminOperator)).one()
        dump = " ".join(str(v) for v in session.execute(text("SELECT * FROM admin_operators")).one())
    assert stored.name == "alice" and alice not in dump
    operators.revoke("alice")
    assert client(runtime, alice).get("/admin/applications").status_code == 401
    assert [o.name for o in operators.listing()] == []


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Bearer  ", "Basic eDp5", "Bearer nope"]
)
def test_a_missing_empty_or_unknown_token_is_refused(runtime: RoleRuntime, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    app = create_app(runtime, admin_token=ADMIN, run_dispatcher=False).admin
    reply = TestClient(app).get("/admin/applications", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["code"] == "unauthorized" and reply.headers["www-authenticate"] == "Bearer"


def test_an_empty_configured_token_is_refused_at_start(runtime: RoleRuntime) -> None:
    with pytest.raises(ValueError, match="empty"):
        create_app(runtime, admin_token="", run_dispatcher=False)
    # Without a configured token only the database's operators get in.
    bob = Operators(runtime.runtime.sessions).add("bob")
    app = create_app(runtime, admin_token=None, run_dispatcher=False).admin
    assert TestClient(app).get("/admin/applications", headers={"Authorization": "Bearer "}).status_code == 401
    assert (
        TestClient(app, headers={"Authorization": f"Bearer {bob}"}).get("/admin/applications").status_code
        == 200
    )


def test_operator_names_are_checked_and_unique(runtime: RoleRuntime) -> None:
    operators = Operators(runtime.runtime.sessions)
    operators.add("carol")
    with pytest.raises(ValueError, match="exists already"):
        operators.add("carol")
    with pytest.raises(ValueError, match="operator name"):
        operators.add("has space")
    with pytest.raises(LookupError, match="no operator"):
        operators.revoke("dave")


def test_an_unknown_id_is_404_in_the_admin_error_shape(runtime: RoleRuntime) -> None:
    admin = client(runtime)
    for method, path in (
        ("post", "/admin/outbox/zzz/retry"),
        ("get", "/admin/applications/zzz"),
        ("post", "/admin/counterparties/zzz/deactivate"),
    ):
        reply = getattr(admin, method)(path)
        assert reply.status_code == 404 and reply.json()["code"] == "not_found", (path, reply.text)
        assert "zzz" in reply.json()["message"]
