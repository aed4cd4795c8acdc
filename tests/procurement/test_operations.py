"""What an operations team runs against: two listeners, /health, /ready, /metrics and JSON logs.

Both roles run for real (uvicorn on loopback, SQLite and PostgreSQL); every check is made over HTTP.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from baohan.adapters.db.tables import OwnKey
from baohan.adapters.keystore import SecretBox
from baohan.adapters.logs import JsonFormatter, log_config
from baohan.protocols.procurement.client import ProcurementClient
from baohan.services import readiness
from baohan.services.registry import key_context
from tests.procurement.harness import (
    ADMIN,
    APPSECRET,
    PASSPHRASE,
    Pair,
    application_fields,
    running_pair,
    wait_for,
)

# Personal fields planted in an application: none may reach a log line.
PERSONAL = {
    "legalName": "欧阳秘密",
    "legalIdNo": "110101198812120018",
    "contacts": "司马保密",
    "contactsWay": "13987654321",
    "contractCerNo": "32010619770707001X",
}


@pytest.fixture
def pair(db_pair: tuple[str, str]) -> Iterator[Pair]:
    with running_pair(*db_pair) as running:
        yield running


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line, as ``baohan serve`` configures them (JSON, debug level), in a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in log_config()["loggers"]}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name, setting in log_config("debug")["loggers"].items():
        logging.getLogger(name).setLevel(setting["level"])
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_the_admin_api_and_its_docs_are_not_on_the_protocol_port(pair: Pair) -> None:
    protocol = httpx.Client(base_url=pair.issuer_server.url, headers={"Authorization": f"Bearer {ADMIN}"})
    admin = pair.issuer_admin
    assert pair.issuer_server.admin_port not in (None, pair.issuer_server.port)
    with protocol:
        for path in ("/admin/applications", "/admin/outbox/dead", "/docs", "/openapi.json", "/metrics"):
            assert protocol.get(path).status_code == 404, path
        assert protocol.post("/admin/pause", json={"paused": True}).status_code == 404
        assert protocol.get("/health").json() == {"status": "alive"}
        assert protocol.get("/ready").json() == {"ready": True}
        answer = ProcurementClient(pair.issuer_endpoint, pair_channel(pair), http=protocol).send(
            "ELY101", application_fields("OPS-1")
        )
        assert answer.code == "000"

    assert admin.get("/admin/applications").status_code == 200
    assert admin.get("/docs").status_code == 200
    assert "/admin/applications" in admin.get("/openapi.json").json()["paths"]
    assert admin.get("/health").json() == {"status": "alive", "roles": ["procurement:issuer"]}
    # The protocol is not served to operators' port either, and the admin token is still asked for.
    assert admin.post("/zcdservice/v1/lg/ELYApi", content=b"{}").status_code == 404
    assert httpx.get(f"{pair.issuer_server.admin_url}/admin/applications").status_code == 401


def pair_channel(pair: Pair) -> Any:
    """The platform's channel to the issuer: what a counterparty signs and encrypts with."""
    return pair.platform.registry.peer(pair.institution_id).channel


def test_ready_reports_the_outbox_and_answers_503_when_a_key_does_not_open(pair: Pair) -> None:
    pair.platform_server.stop()  # the issuer's notices now wait in its outbox
    protocol = httpx.Client(base_url=pair.issuer_server.url)
    with protocol:
        ProcurementClient(pair.issuer_endpoint, pair_channel(pair), http=protocol).send(
            "ELY101", application_fields("OPS-READY")
        )
    ready = pair.issuer_admin.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] and body["database"] == "ok" and body["keys"] == "ok"
    assert body["outbox"]["pending"] == 1 and body["outbox"]["dead"] == 0
    assert body["outbox"]["oldest_pending_age_seconds"] >= 0

    # A key sealed under another passphrase (another host started with the wrong one, say).
    foreign = SecretBox("another passphrase entirely").seal(b"\x01" * 32, context=key_context("default"))
    with pair.issuer.sessions() as session, session.begin():
        session.execute(update(OwnKey).where(OwnKey.name == "default").values(private_key_sealed=foreign))
    refused = pair.issuer_admin.get("/ready")
    assert refused.status_code == 503
    assert refused.json()["keys"] == "key 'default' does not open with this passphrase"
    public = httpx.get(f"{pair.issuer_server.url}/ready")
    assert (public.status_code, public.json()) == (503, {"ready": False})


def test_ready_says_the_database_is_unreachable(pair: Pair) -> None:
    def broken() -> Any:
        raise OSError("connection refused")

    runtime = pair.issuer.runtime
    cut_off = dataclasses.replace(runtime, ground=dataclasses.replace(runtime.ground, sessions=broken))
    state = readiness.check(cut_off)
    assert not state.ready
    assert state.database == "unreachable: OSError: connection refused"
    assert state.view()["ready"] is False


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_count_requests_latencies_deliveries_and_the_outbox(pair: Pair) -> None:
    def scrape() -> str:
        reply = pair.issuer_admin.get("/metrics")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
        return reply.text

    before = scrape()
    base = _sample(before, "baohan_requests_total", interface="ELY101", code="000", role="issuer") or 0.0
    for key in ("OPS-M1", "OPS-M2"):  # sent by the platform: their ELY102 notices are delivered
        submitted = pair.platform_admin.post(
            "/admin/applications",
            json={"institution_id": pair.institution_id, "fields": application_fields(key)},
        )
        assert submitted.status_code == 202
    channel = pair_channel(pair)
    with httpx.Client() as http:
        # Sent around the platform: it does not know the application and refuses the notice for good.
        client = ProcurementClient(pair.issuer_endpoint, channel, http=http)
        assert client.send("ELY101", application_fields("OPS-M3")).code == "000"
        bad = http.post(pair.issuer_endpoint, content=b"not json")
        assert bad.json()["code"] == "103"
    for key in ("OPS-M1", "OPS-M2"):  # the platform's ELY101s reached the issuer and their ELY102s came back
        wait_for(lambda k=key: pair.platform_app(k).get("stage") == "approved", f"{key} approved")
    wait_for(lambda: pair.issuer.pending() == 0 and pair.platform.pending() == 0, "the notices settled")
    text = scrape()
    assert _sample(text, "baohan_requests_total", interface="ELY101", code="000", role="issuer") == base + 3
    assert (_sample(text, "baohan_requests_total", interface="?", code="103") or 0) >= 1
    assert (_sample(text, "baohan_request_duration_seconds_count", interface="ELY101") or 0) >= base + 3
    assert (_sample(text, "baohan_delivery_attempts_total", kind="ELY102", outcome="delivered") or 0) >= 2
    assert (_sample(text, "baohan_delivery_attempts_total", kind="ELY102", outcome="dead") or 0) >= 1
    assert _sample(text, "baohan_outbox_pending") == 0
    assert _sample(text, "baohan_outbox_dead") == 1
    assert _sample(text, "baohan_outbox_oldest_pending_age_seconds") == 0

    pair.platform_server.stop()
    with httpx.Client() as http:
        ProcurementClient(pair.issuer_endpoint, channel, http=http).send(
            "ELY101", application_fields("OPS-M4")
        )
    waiting = scrape()
    assert _sample(waiting, "baohan_outbox_pending") == 1  # read from the database, not counted here


def test_json_logs_carry_each_request_and_its_delivery_and_no_secret(
    pair: Pair, captured: io.StringIO
) -> None:
    secrets = [
        *PERSONAL.values(),
        APPSECRET,
        ADMIN,
        PASSPHRASE,
        pair.issuer_key.to_hex(),
        pair.platform_key.to_hex(),
    ]
    submitted = pair.platform_admin.post(
        "/admin/applications",
        json={"institution_id": pair.institution_id, "fields": application_fields("OPS-LOG", **PERSONAL)},
    )
    assert submitted.status_code == 202, submitted.text
    wait_for(lambda: pair.platform_app("OPS-LOG").get("stage") == "approved", "approved at the platform")
    wait_for(lambda: pair.issuer.pending() == 0 and pair.platform.pending() == 0, "both outboxes drained")
    # A request that fails validation with a personal value in it, and one with a wrong sign.
    with httpx.Client() as http:
        client = ProcurementClient(pair.issuer_endpoint, pair_channel(pair), http=http)
        invalid = application_fields(
            "OPS-LOG-2", **{**PERSONAL, "guaranteeDate": "x" + PERSONAL["legalIdNo"]}
        )
        assert client.send("ELY101", invalid).code == "103"
        assert http.post(pair.issuer_endpoint, content=b"{").json()["code"] == "103"

    text = captured.getvalue()
    for secret in secrets:
        assert secret not in text, f"{secret!r} reached the logs"
    logged = lines(captured)
    [ely101] = [
        line
        for line in logged
        if line.get("interface") == "ELY101" and line.get("role") == "issuer" and line.get("code") == "000"
    ]
    assert ely101["logger"] == "baohan.requests" and ely101["msgcode"] != "?"
    assert isinstance(ely101["duration_ms"], float) and ely101["request_id"]
    # The ELY102 notice that request caused goes out with the same request id, from the dispatcher thread.
    delivered = [
        line for line in logged if line.get("outcome") == "delivered" and line.get("kind") == "ELY102"
    ]
    assert [line["request_id"] for line in delivered] == [ely101["request_id"]]
    # The operator's submission (admin API) is the request behind the platform's ELY101 delivery.
    [submit] = [
        line for line in logged if line.get("path") == "/admin/applications" and line.get("method") == "POST"
    ]
    assert submit["status"] == 202
    [sent] = [line for line in logged if line.get("outcome") == "delivered" and line.get("kind") == "ELY101"]
    assert sent["request_id"] == submit["request_id"] == submitted.headers["x-request-id"]
    assert any(line.get("code") == "103" and line.get("interface") == "ELY101" for line in logged)
