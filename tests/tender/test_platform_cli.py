"""``baohan tender-platform …`` on a real database (SQLite and PostgreSQL): a bidder's path through the
console script, each step a process of its own, while the same database serves the admin API, which then
shows what the commands did; and every operator mistake as one ``error:`` line naming what is wrong, exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from baohan.adapters.keystore import SecretBox
from baohan.protocols.tender.router import TenderWire
from baohan.protocols.tender.sealing import open_application, open_envelope
from baohan.protocols.tender.tables import ISSUER_SERVES
from baohan.services import runtime as shared
from baohan.services.tender.platform import TenderPlatform
from baohan.services.tender.platform_runtime import build_platform
from baohan.web import tender as web
from baohan.web.front import ProtocolFront
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from tests.cli.test_cli_errors import PASSPHRASE, baohan, in_a_process, ok, one_line_error
from tests.procurement.harness import ADMIN, FAST, wait_for
from tests.tender import platform_kit
from tests.tender.bidder_kit import Bidder, make_bidder
from tests.tender.test_platform_requests import issued
from tests.tender.wire_peer import ISSUER_KEY, PLATFORM_KEY, PLATFORMCODE, Recorder, channel

SECTION = {
    "biaoduanno": "BD-CLI-0007",
    "biaoduanname": "城北净水厂提标改造标段",
    "zbr": "某市城投集团有限公司",
    "zbrorgnum": "91330100MA2CLI0007",
}
BIDDER_NAME, BIDDER_CODE, BZJ = "投标人乙建设有限公司", "91330106MA27CLI01X", "80000.00"
PRODUCTS = (("投标保函", "0.0150"), ("投标保函（快速）", "0.0100"))  # premiums 1200.00 and 800.00


@dataclass
class Served:
    """The platform served on ``db`` (admin API, outbox delivered), and the institution it talks to."""

    db: str
    role: TenderPlatform
    admin: httpx.Client
    institution: Recorder
    institution_url: str


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("only the tender wire is served here")


@pytest.fixture
def served(db_url: str) -> Iterator[Served]:
    runtime = shared.open_runtime(
        db_url,
        SecretBox(PASSPHRASE),  # the commands' passphrase (tests.cli.test_cli_errors.ENV)
        [(build_platform, None)],
        shared.RuntimeSettings(migrate=False, policy=FAST, timeout=5),
    )
    hosted = runtime.role("tender", "platform")
    hosted.registry.add_identity("default", PLATFORM_KEY)
    wire = channel("INST-CLI")
    institution = Recorder({wire.appkey: wire})
    peer_server = BackgroundServer(
        ProtocolFront(_nothing, [TenderWire(institution, ISSUER_SERVES)]), free_port(), lifespan="off"
    )
    server = BackgroundServer(host_app(runtime, [web.platform_mount(hosted)], admin_token=ADMIN), free_port())
    admin = httpx.Client(
        base_url=f"{server.admin_url}/admin/tender", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
    )
    assert isinstance(hosted.service, TenderPlatform)
    try:
        yield Served(db_url, hosted.service, admin, institution, f"{peer_server.url}/tender")
    finally:
        admin.close()
        server.stop()
        peer_server.stop()


def _opening(days: int = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _pem(tmp_path: Path, bidder: Bidder) -> Path:
    path = tmp_path / "bidder.pem"
    path.write_text(bidder.certificate.to_pem(), encoding="ascii")
    return path


def test_a_bidder_applies_through_the_commands_and_the_admin_api_shows_the_same(
    served: Served, tmp_path: Path
) -> None:
    def run(*args: str) -> Any:
        result = in_a_process("tender-platform", *args, BAOHAN_DB=served.db)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    wire = channel("INST-CLI")
    institution = run(
        "add-institution",
        *("--name", "某某担保有限公司", "--appkey", wire.appkey, "--appsecret", wire.appsecret),
        *("--public-key", ISSUER_KEY.public_key.to_hex(), "--url", served.institution_url),
        *("--platformcode", PLATFORMCODE),
    )
    assert (institution["appkey"], institution["role"], institution["active"]) == (
        wire.appkey,
        "institution",
        True,
    )
    fields = [arg for name, value in SECTION.items() for arg in (f"--{name}", value)]
    section = run("add-section", *fields, "--kaibiaotime", _opening())["id"]
    for (product, rate), premium in zip(PRODUCTS, ("1200.00", "800.00"), strict=True):
        offer = (
            *("offer", section, "--bidder-code", BIDDER_CODE, "--institution", institution["id"]),
            *("--product", product, "--rate", rate, "--bzj-amount", BZJ),
        )
        # A process each costs seconds: the first offer in one, the second as the console script runs it.
        if product == PRODUCTS[0][0]:
            offered = run(*offer)
        else:
            offered = json.loads(ok("tender-platform", *offer, BAOHAN_DB=served.db))
        assert (offered["product"], offered["rate"], offered["premium"]) == (product, rate, premium)
    quotes = run("quotes", section, "--bidder-code", BIDDER_CODE)
    assert [(q["product"], q["premium"], q["chosen"]) for q in quotes] == [
        ("投标保函（快速）", "800.00", False),
        ("投标保函", "1200.00", False),
    ]
    bidder = make_bidder(BIDDER_NAME)
    sent = run(
        "submit",
        *("--section", section, "--institution", institution["id"], "--product", "投标保函（快速）"),
        *("--bidder-name", BIDDER_NAME, "--bidder-code", BIDDER_CODE, "--bzj-amount", BZJ),
        *("--certificate", str(_pem(tmp_path, bidder)), "--wait", "30"),  # the served platform delivers
    )
    applyno = sent["applyno"]
    assert sent["redirecturl"] == f"https://bank.example/open/{applyno}"
    shown = run("show", applyno)
    assert shown["stage"] == sent["stage"] and shown["bidder_code"] == BIDDER_CODE
    assert shown["project_fields"] is None  # sealed until restored
    assert not any(value in json.dumps(shown, ensure_ascii=False) for value in SECTION.values())

    # The admin API on the same database shows what the commands did.
    admin = served.admin
    assert admin.get(f"/applications/{applyno}").json() == shown
    assert admin.get(f"/applications/{shown['id']}/redirect").json() == {"redirecturl": sent["redirecturl"]}
    listed = admin.get("/applications").json()
    assert [item["applyno"] for item in listed["items"]] == [applyno]
    chosen = admin.get(f"/sections/{section}/quotes", params={"bidder_code": BIDDER_CODE}).json()
    assert [(q["product"], q["chosen"]) for q in chosen] == [("投标保函（快速）", True), ("投标保函", False)]
    assert served.role.find(applyno).bzj_amount == served.role.application(shown["id"]).bzj_amount
    history = admin.get(f"/applications/{applyno}/history").json()["items"]
    assert baohan("tender-platform", "history", applyno, "--db", served.db).stdout == (
        json.dumps(history, ensure_ascii=False, indent=2) + "\n"
    )
    sections = admin.get("/sections").json()
    assert json.loads(baohan("tender-platform", "sections", "--db", served.db).stdout) == sections

    # The institution got the application sealed for the bidder, its project fields sealed again.
    (apply,) = [r for r in served.institution.handled if r.interface == "baohanapply"]
    key = open_envelope(str(apply.fields["digitalenvelope"]), bidder.key)
    opened = open_application(str(apply.fields["applydata"]), key)
    assert (opened["biddercode"], opened["bzjamount"]) == (BIDDER_CODE, BZJ)
    assert opened["biaoduanno"] != SECTION["biaoduanno"] and SECTION["biaoduanno"] not in json.dumps(opened)


@dataclass
class Ready:
    """A platform database with our key, an institution offering two products and a bid section."""

    db: str
    institution_id: str
    section: str
    certificate: Path

    def run(self, *args: str) -> Any:
        return baohan("tender-platform", *args, BAOHAN_DB=self.db)


@pytest.fixture
def ready(db_url: str, tmp_path: Path) -> Ready:
    ok("platform", "set-identity", "--db", db_url, "--key", PLATFORM_KEY.to_hex())
    wire = channel("INST-ERR")
    institution = json.loads(
        ok(
            *("tender-platform", "add-institution", "--db", db_url, "--name", "某某担保有限公司"),
            *("--appkey", wire.appkey, "--appsecret", wire.appsecret),
            *("--public-key", ISSUER_KEY.public_key.to_hex(), "--url", "http://127.0.0.1:9/tender"),
            *("--platformcode", PLATFORMCODE),
        )
    )
    fields = [arg for name, value in SECTION.items() for arg in (f"--{name}", value)]
    section = json.loads(
        ok("tender-platform", "add-section", "--db", db_url, *fields, "--kaibiaotime", _opening())
    )["id"]
    for product, rate in PRODUCTS:
        ok(
            *("tender-platform", "offer", section, "--db", db_url, "--bidder-code", BIDDER_CODE),
            *("--institution", institution["id"], "--product", product, "--rate", rate, "--bzj-amount", BZJ),
        )
    return Ready(db_url, institution["id"], section, _pem(tmp_path, make_bidder(BIDDER_NAME)))


def _submit(ready: Ready, **changed: str) -> list[str]:
    options = {
        "--section": ready.section,
        "--institution": ready.institution_id,
        "--product": PRODUCTS[0][0],
        "--bidder-name": BIDDER_NAME,
        "--bidder-code": BIDDER_CODE,
        "--bzj-amount": BZJ,
        "--certificate": str(ready.certificate),
        **{f"--{name.replace('_', '-')}": value for name, value in changed.items()},
    }
    return ["submit", *(arg for pair in options.items() for arg in pair)]


def _nothing_submitted(ready: Ready) -> None:
    assert json.loads(ok("tender-platform", "applications", BAOHAN_DB=ready.db))["total"] == 0


def test_bad_times_and_amounts_are_one_line_naming_the_option(ready: Ready) -> None:
    fields = [arg for name, value in SECTION.items() for arg in (f"--{name}", f"{value}-2")]
    for when, words in (
        ("next tuesday", ("--kaibiaotime", "ISO 8601")),
        ("2027-01-01 09:30:00", ("--kaibiaotime", "time zone")),
        ("2027-13-01T09:30:00+08:00", ("--kaibiaotime", "ISO 8601")),
    ):
        one_line_error(ready.run("add-section", *fields, "--kaibiaotime", when), *words)
    one_line_error(
        ready.run("add-section", *fields, "--kaibiaotime", _opening(), "--key-text", "base64"), "--key-text"
    )
    assert json.loads(ready.run("sections").stdout)["total"] == 1  # none of them was stored
    offer = ("offer", ready.section, "--bidder-code", "91330106MA27CLI02X", "--institution")
    product = (ready.institution_id, "--product", "投标保函")
    for rate, bzj, words in (
        ("1,5%", BZJ, ("--rate", "'1,5%' is not a decimal number")),
        ("1.5", BZJ, ("--rate", "below 1")),
        ("0.0150", "八万", ("--bzj-amount", "is not a decimal number")),
        ("0.0150", "80000.001", ("--bzj-amount",)),
        ("0.0150", "-1", ("--bzj-amount",)),
    ):
        one_line_error(ready.run(*offer, *product, "--rate", rate, "--bzj-amount", bzj), *words)
    assert json.loads(ready.run("quotes", ready.section, "--bidder-code", "91330106MA27CLI02X").stdout) == []
    one_line_error(ready.run(*_submit(ready, bzj_amount="lots")), "--bzj-amount")
    one_line_error(
        ready.run("claim", "X", "--applyusername", "王", "--applyuserphone", "1", "--amount", "much"),
        "--amount",
    )
    _nothing_submitted(ready)


def test_unknown_sections_applications_and_institutions_are_one_line(ready: Ready) -> None:
    for args in (
        ("offer", "NO-SUCH", "--bidder-code", BIDDER_CODE, "--institution", ready.institution_id),
        ("quotes", "NO-SUCH", "--bidder-code", BIDDER_CODE),
        ("open", "NO-SUCH"),
        tuple(_submit(ready, section="NO-SUCH")),
    ):
        rest = ("--product", "投标保函", "--rate", "0.01", "--bzj-amount", BZJ) if args[0] == "offer" else ()
        one_line_error(ready.run(*args, *rest), "no bid section NO-SUCH")
    for args in (
        ("show",),
        ("history",),
        ("redirect",),
        ("quit", "--reason", "重复投标"),
        ("cancel",),
        ("claim", "--applyusername", "王五", "--applyuserphone", "13800000000"),
        ("give-up",),
        ("invoice", "--type", "0"),
    ):
        one_line_error(ready.run(args[0], "NO-SUCH", *args[1:]), "no tender application NO-SUCH")
    offer = ("offer", ready.section, "--bidder-code", BIDDER_CODE, "--product", "投标保函", "--rate", "0.01")
    one_line_error(
        ready.run(*offer, "--bzj-amount", BZJ, "--institution", "NO-SUCH"),
        "institution: NO-SUCH is not a registered institution",
    )
    one_line_error(ready.run(*_submit(ready, institution="NO-SUCH")), "institution: NO-SUCH")
    # An institution offering several products is chosen with --product.
    several = _submit(ready)
    several.remove("--product")
    several.remove(PRODUCTS[0][0])
    one_line_error(ready.run(*several), "product:", "offers several")
    one_line_error(ready.run("applications", "--stage", "bogus"), "--stage", "bogus")
    _nothing_submitted(ready)


def test_the_bidder_certificate_must_be_a_file_holding_an_sm2_certificate(
    ready: Ready, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such.pem"
    one_line_error(ready.run(*_submit(ready, certificate=str(missing))), "--certificate", "no file")
    binary = tmp_path / "binary.der"
    binary.write_bytes(b"\x30\x82\xff\xfe")
    one_line_error(ready.run(*_submit(ready, certificate=str(binary))), "--certificate", "not a PEM")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    one_line_error(
        ready.run(*_submit(ready, certificate=str(garbage))), "certificate: not an SM2 certificate"
    )
    _nothing_submitted(ready)
    sent = json.loads(ok("tender-platform", *_submit(ready), BAOHAN_DB=ready.db))
    assert sent["redirecturl"] is None and sent["stage"] == "applied"  # queued: nothing delivers here


def test_registering_an_institution_checks_every_option(empty_db_url: str) -> None:
    register = (
        *("tender-platform", "add-institution", "--db", empty_db_url, "--name", "某某担保有限公司"),
        *("--appkey", "INST-REG", "--public-key", ISSUER_KEY.public_key.to_hex()),
    )
    good = {"--appsecret": "secret-of-INST-REG", "--url": "http://127.0.0.1:9/tender", "--profile": "{}"}
    for option, value, words in (
        ("--appsecret", "short", ("--appsecret", "8 to 128")),
        ("--url", "ftp://bank.example/tender", ("--url", "http://")),
        ("--profile", "{not json", ("--profile", "not JSON")),
        ("--profile", '{"sign": "md5"}', ("--profile", "sign")),
        ("--profile", '{"colour": "red"}', ("--profile", "colour")),
    ):
        options = {**good, option: value}
        one_line_error(baohan(*register, *(arg for pair in options.items() for arg in pair)), *words)
    bad_key = [*register]
    bad_key[bad_key.index("--public-key") + 1] = "04abcd"
    options = [arg for pair in good.items() for arg in pair]
    one_line_error(baohan(*bad_key, *options), "--public-key")
    # No key of ours yet: refused before anything is registered, saying what to do.
    one_line_error(baohan(*register, *options), "baohan platform set-identity")
    ok("platform", "set-identity", "--db", empty_db_url, "--key", PLATFORM_KEY.to_hex())
    listed = json.loads(ok("counterparties", "list", "--protocol", "tender", "--db", empty_db_url))
    assert listed == []
    ok(*register, *options)
    one_line_error(baohan(*register, *options), "INST-REG", "already registered")


def test_the_requests_to_institutions_go_by_command(db_url: str) -> None:
    with platform_kit.platform(db_url) as p:
        env = {"BAOHAN_DB": db_url, "BAOHAN_KEY_PASSPHRASE": platform_kit.PASSPHRASE}

        def run(*args: str) -> Any:
            return json.loads(ok("tender-platform", *args, **env))

        # Quit, before the bid opens; the institution is sent quitapply by `deliver`.
        _, quitting, _, _ = issued(p)
        assert run("quit", quitting, "--reason", "项目终止")["stage"] == "quit_requested"
        assert ok("tender-platform", "deliver", **env).startswith("1 message(s) attempted")
        (sent,) = p.institution.received("quitapply")
        assert (sent["applyno"], sent["reason"]) == (quitting, "项目终止")
        assert run("redirect", quitting) == {"redirecturl": f"https://bank.example/open/{quitting}"}
        # A claim with its documents by URL, and a cancellation, each by baohanno.
        _, claimed, claimed_no, _ = issued(p)
        documents = ["https://tenderer.example/c/1.pdf", "https://tenderer.example/c/2.pdf"]
        claim = ("claim", claimed_no, "--applyusername", "王五", "--applyuserphone", "13800000000")
        one_line_error(
            baohan("tender-platform", *claim, "--file-url", "file:///etc/passwd", **env), "--file-url"
        )
        urls = [arg for url in documents for arg in ("--file-url", url)]
        after = run(*claim, "--amount", BZJ, "--reason", "拒签合同", *urls, "--actor", "操作员甲")
        assert after["stage"] == "claimed" and after["applyno"] == claimed
        _, _, cancelled_no, _ = issued(p)
        assert run("cancel", cancelled_no)["stage"] == "cancelled"
        p.deliver()
        (claims,) = p.institution.received("claimsnotice")
        assert [item["fileurl"] for item in json.loads(claims["filelist"])] == documents
        assert claims["payeramount"] == BZJ
        (cancel,) = p.institution.received("canclenotice")
        assert cancel["baohanno"] == cancelled_no
        history = run("history", claimed)
        assert [e["actor"] for e in history if e["event"] == "open_claim"] == ["操作员甲"]
        # Opening the bids now sends the restore; once the plain guarantee is in, the invoice is asked.
        section, applyno, baohanno, sealed = issued(p)
        invoice = ("invoice", applyno, "--type", "1")
        one_line_error(baohan("tender-platform", *invoice, **env), "address, phone, bank, account: required")
        assert run("open", section) == {"restoring": 1}
        p.deliver()
        assert [r["applyno"] for r in p.institution.received("baohanrestore")] == [applyno]
        plain = platform_kit.encrypt(platform_kit.plain_ofd(p, applyno, baohanno, sealed))
        platform_kit.upload(p, applyno, baohanno, plain, "2")
        p.institution.call(
            "baohanfilecompletenotice", **platform_kit.completion(applyno, baohanno, plain, "2")
        )
        shown = run("show", baohanno)
        assert shown["stage"] == "restored" and shown["project_fields"]["zbr"] == platform_kit.PLAIN["zbr"]
        assert run("invoice", applyno, "--type", "0", "--email", "finance@example.com")["stage"] == (
            "invoice_requested"
        )
        p.deliver()
        (asked,) = p.institution.received("invoiceapply")
        assert (asked["type"], asked["email"], asked["amount"]) == ("0", "finance@example.com", "4000.00")
        # The bidder gives up an application not yet confirmed; the institution accepts.
        _, giving_up = platform_kit.applied(p)
        assert set(run("give-up", giving_up)) == {"id"}
        p.deliver()
        assert run("show", giving_up)["stage"] == "given_up"
        # Paused, the platform's endpoints answer "paused" until resumed (a running role sees it within
        # a second).
        assert ok("tender-platform", "pause", **env).strip() == "paused"
        wait_for(p.role.paused, "the platform paused")
        assert ok("tender-platform", "pause", "--off", **env).strip() == "resumed"
        wait_for(lambda: not p.role.paused(), "the platform resumed")
