"""``baohan demo tender``: a tender platform and a tender issuer on loopback, every tender interface over
real HTTP.

Each role runs as ``baohan serve tender`` builds it (its builder, its mount, the host), on its own SQLite
database behind its own two listeners; they are registered with each other through their admin APIs.
The bidder opens the sealed application and signs the agreement with the ``baohan bidder`` code on their
own key, through the bidder page's calls (no browser). The tour: a guarantee applied for, approved, paid,
sealed and uploaded in slices, restored after the bid opening, invoiced and claimed on; beside it a quit
before the opening, a cancellation, and a give-up from either side.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import func, select

from baohan.adapters.db.engine import utcnow
from baohan.adapters.documents.ofd import read_attachments, verify_ofd
from baohan.adapters.documents.tender_guarantee import SEALED_FILE
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import OutboxMessage, OutboxStatus, RetryPolicy
from baohan.cli.demo_kit import fresh_folder, recorded, wait
from baohan.cli.inputs import CLIError, one_line_errors
from baohan.cli.tender_tour import BIDDER_NAME, TenderDriver
from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca
from baohan.protocols.tender.router import DEFAULT_PREFIX
from baohan.protocols.tender.tables import INTERFACES
from baohan.services import runtime as shared
from baohan.services.tender.aftercare import AftercareSettings
from baohan.services.tender.files import FileType, GuaranteeFiles
from baohan.services.tender.issuer import IssuerSettings
from baohan.services.tender.platform_runtime import PlatformRuntime, PlatformSettings, open_platform
from baohan.services.tender.runtime import TenderRuntime, open_issuer
from baohan.web import tender as web
from baohan.web.host import host_app
from baohan.web.serving import BackgroundServer, free_port
from baohan.web.worker import ServeSettings, check_hosting

INSTITUTION = "baohan 示范担保有限公司"
CREDIT_CODE = "91330100MA2DEMO01X"
PLATFORM = "baohan 示范交易平台"
SECTION = {
    "biaoduanno": "BD-DEMO-0001",
    "biaoduanname": "城东污水处理厂二期土建施工标段",
    "zbr": "某市水务投资集团有限公司",
    "zbrorgnum": "91330100MA2DEMO02Y",
}
BZJ = "80000.00"
# Slices of 8 KB, so that a guarantee of some tens of KB goes up in several; a claim is paid on first
# demand after two seconds here (a day by default) so that the tour sees it paid.
PROFILE = {"platformcode": "P-DEMO", "slice_size": 8192}
CLAIM_WAIT = timedelta(seconds=2)
WIRE = DEFAULT_PREFIX + "/"
SEALED_OFD, PLAIN_OFD, INVOICE_PDF = "guarantee-sealed.ofd", "guarantee-plain.ofd", "invoice.pdf"
TRANSCRIPT, REPORT = "transcript.jsonl", "report.txt"


@dataclass
class Step:
    """One step of the tour: what was done, what came of it, and the protocol messages it caused."""

    title: str
    result: str
    wire: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(kw_only=True)
class Tour(TenderDriver):
    """The tender roles driven over HTTP, and what the tour saw of their traffic, step by step."""

    settled: Callable[[], bool]  # True once neither role has a notice due to go out
    wire: list[dict[str, Any]]
    steps: list[Step] = field(default_factory=list)

    @contextmanager
    def step(self, title: str) -> Iterator[Step]:
        """A step: the block does it and sets its result; then the notices it caused are awaited, and each
        must have been answered code 1."""
        start, began = len(self.wire), time.monotonic()
        done = Step(title, "")
        yield done
        wait(self.settled, f"the notices of '{title}'")
        count = -1
        while count != len(self.wire):  # an answer is recorded just after it went out
            count = len(self.wire)
            time.sleep(0.05)
        done.wire, done.seconds = self.wire[start:count], time.monotonic() - began
        self.steps.append(done)
        refused = [line for line in done.wire if str(_answer(line).get("code")) != "1"]
        if refused:
            raise CLIError(f"{title}: {_interface(refused[0])} was answered {_answer(refused[0])}")


def _quiet(role: TenderRuntime) -> bool:
    """No notice of ``role`` is due and undelivered (a restore waits for its bid opening: not due yet);
    CLIError once one was given up on."""
    undelivered = OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.DELIVERING])
    with role.sessions() as session:
        dead = session.scalars(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.DEAD)).first()
        if dead is not None:
            raise CLIError(f"the {role.role}'s {dead.kind} was given up on: {dead.last_error}")
        due = select(func.count()).where(undelivered, OutboxMessage.next_attempt_at <= utcnow())
        return not session.scalar(due.select_from(OutboxMessage))


def _interface(line: dict[str, Any]) -> str:
    return str(line["path"]).rsplit("/", 1)[-1]


def _answer(line: dict[str, Any]) -> dict[str, Any]:
    answer = line["answer"]
    return answer if isinstance(answer, dict) else {"code": None, "message": str(answer)}


@one_line_errors
def tender(
    out: Annotated[
        Path, typer.Option(help="Folder for the OFDs, the invoice, transcript and report.")
    ] = Path("demo-output/tender"),
) -> None:
    """Run every tender interface between our platform and our issuer, and print what happened."""
    started = time.monotonic()
    try:  # what `baohan serve tender` checks before an issuer starts (sm-crypto for the bidder page)
        check_hosting(
            ServeSettings(
                role="issuer",
                db="",
                protocols=("tender",),
                institution_name=INSTITUTION,
                credit_code=CREDIT_CODE,
            )
        )
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    fresh_folder(out)
    ca_key, issuer_key, platform_key, bidder_key = (SM2PrivateKey.generate() for _ in range(4))
    ca = make_ca("CN=baohan Demo CA,O=baohan,C=CN", ca_key)
    issuer_certificate = issue_certificate(
        ca, ca_key, f"CN={INSTITUTION},O={INSTITUTION},C=CN", issuer_key.public_key
    )
    bidder_certificate = issue_certificate(ca, ca_key, f"CN={BIDDER_NAME},C=CN", bidder_key.public_key)
    for name, certificate in (("ca", ca), ("issuer", issuer_certificate), ("bidder", bidder_certificate)):
        (out / f"{name}-certificate.pem").write_text(certificate.to_pem())
    box = SecretBox(secrets.token_urlsafe(24))
    ground = shared.RuntimeSettings(
        policy=RetryPolicy(base=timedelta(milliseconds=100), max_delay=timedelta(seconds=2)), timeout=30
    )
    ip, pp = free_port(), free_port()
    issuer_url, platform_url = f"http://127.0.0.1:{ip}", f"http://127.0.0.1:{pp}"
    settings = IssuerSettings(
        issuer_url,
        INSTITUTION,
        trusted_bidder_cas=[ca],
        claim_wait=CLAIM_WAIT,
        aftercare=AftercareSettings(seller_code=CREDIT_CODE),
    )
    token = secrets.token_urlsafe(16)
    auth = {"Authorization": f"Bearer {token}"}
    wire: list[dict[str, Any]] = []
    with ExitStack() as running:  # stopped in reverse: the clients, the servers, the platform, the issuer
        running.callback(_keep, wire, out / TRANSCRIPT)  # last, and also when a step failed
        issuer = open_issuer(f"sqlite:///{out}/issuer.db", box, settings, ground)
        running.callback(issuer.stop)
        platform = open_platform(
            f"sqlite:///{out}/platform.db", box, PlatformSettings(trusted_seal_cas=[ca]), ground
        )
        running.callback(platform.stop)
        issuer.registry.add_identity("default", issuer_key, issuer_certificate, ca)
        platform.registry.add_identity("default", platform_key)
        admins = []
        for role, port in ((issuer, ip), (platform, pp)):
            hosted = host_app(role.runtime, [web.role_mount(role.hosted)], admin_token=token)
            server = BackgroundServer(recorded(hosted, role.role, wire, WIRE), port)
            running.callback(server.stop)
            admins.append(f"{server.admin_url}{web.ADMIN_PREFIX}")
        bank, desk = (
            running.enter_context(httpx.Client(base_url=url, headers=auth, timeout=60)) for url in admins
        )
        tour = Tour(
            issuer=bank,
            platform=desk,
            bidder_key=bidder_key,
            bidder_certificate=bidder_certificate,
            settled=lambda: _quiet(issuer) and _quiet(platform),
            wire=wire,
        )
        _register(tour, issuer_key, platform_key, issuer_url, platform_url)
        _flows(tour, platform, ca, out)
    shown = set(map(_interface, wire))
    missing = [name for name in INTERFACES if name not in shown]
    if missing:
        raise CLIError(f"the tour never crossed {', '.join(missing)}")
    report = _report(tour.steps, wire, out, time.monotonic() - started)
    (out / REPORT).write_text(report, encoding="utf-8")
    typer.echo(report, nl=False)


def _keep(wire: list[dict[str, Any]], path: Path) -> None:
    """The transcript, one JSON line per message, each named by its interface."""
    with open(path, "w", encoding="utf-8") as handle:
        for line in wire:
            handle.write(json.dumps({"interface": _interface(line)} | line, ensure_ascii=False) + "\n")


def _register(
    tour: Tour,
    issuer_key: SM2PrivateKey,
    platform_key: SM2PrivateKey,
    issuer_url: str,
    platform_url: str,
) -> None:
    appkey, appsecret = f"DEMO{secrets.token_hex(4).upper()}", secrets.token_urlsafe(24)
    with tour.step("Keys and certificates made; each role registers the other (admin API)") as step:
        peer = tour.call(
            tour.platform,
            "POST",
            "/institutions",
            201,
            json={
                "name": INSTITUTION,
                "appkey": appkey,
                "appsecret": appsecret,
                "public_key": issuer_key.public_key.to_hex(),
                "endpoint_url": issuer_url + DEFAULT_PREFIX,
                "profile": PROFILE,
            },
        )
        tour.institution_id = str(peer["id"])
        tour.call(
            tour.issuer,
            "POST",
            "/platforms",
            201,
            json={
                "name": PLATFORM,
                "appkey": appkey,
                "appsecret": appsecret,
                "public_key": platform_key.public_key.to_hex(),
                "endpoint_url": platform_url + DEFAULT_PREFIX,
                "profile": PROFILE,
            },
        )
        step.result = (
            f"a test CA issued the institution's certificate (its seal lists it) and the bidder's; appkey "
            f"{appkey}, requests signed HMAC-SM3, slices of {PROFILE['slice_size']} bytes"
        )


def _held(platform: PlatformRuntime, institution_id: str, applyno: str, filetype: FileType) -> bytes:
    """The ``filetype`` guarantee of ``applyno`` as the platform keeps it, once complete."""
    context = platform.context
    with platform.sessions() as session:
        app = context.store.by_applyno(session, institution_id, applyno)
        row = GuaranteeFiles(context.box).get(session, app, filetype) if app is not None else None
        if row is None or row.file_id is None or row.state != "completed":
            raise CLIError(f"the platform holds no complete {filetype} guarantee of {applyno}")
        return context.files.get(session, row.file_id)


def _verified(ofd: bytes, ca: SM2Certificate, what: str) -> str:
    """What our OFD verifier finds in ``ofd`` against the demo CA; CLIError when it does not verify."""
    check = verify_ofd(ofd, trusted=[ca])
    if not check.valid:
        raise CLIError(f"the {what} does not verify: {check.reason}")
    seal = check.signatures[0]
    signer = seal.signer.subject_cn if seal.signer is not None else "?"
    count = f"{len(check.signatures)} seals" if len(check.signatures) > 1 else "its seal"
    return f"{count} valid, '{seal.seal_name}' of {signer}, chained to the demo CA"


def _flows(tour: Tour, platform: PlatformRuntime, ca: SM2Certificate, out: Path) -> None:
    with tour.step("The platform opens a bid section") as step:
        section = tour.section(SECTION)
        step.result = (
            f"{SECTION['biaoduanno']}: its fields sealed under a fresh project key until the bid opens"
        )

    with tour.step("A bidder applies with the institution's offer (application A)") as step:
        main = tour.apply(section)
        step.result = f"applyno {main}: the institution kept it sealed and answered with the bidder's page"
    with tour.step("The bidder opens it and signs the agreement (`baohan bidder` open, sign)") as step:
        url = tour.bidder_signs(main)
        step.result = (
            f"K opened with the bidder's key on {url.split('/bidder/')[0]}/bidder/…; SM3withSM2 signed"
        )
    with tour.step("The institution approves, records the premium paid, issues the sealed OFD") as step:
        issued = tour.issue(main)
        baohanno = issued["baohanno"]
        sealed = _held(platform, tour.institution_id, main, "sealed")
        step.result = (
            f"guarantee {baohanno}, premium {issued['cost']}; the platform decrypted the {len(sealed)} bytes, "
            f"matched the digest and checked the seals: {_verified(sealed, ca, 'sealed guarantee')}"
        )
    (out / SEALED_OFD).write_bytes(sealed)

    with tour.step("Application B: applied, signed, approved, paid, issued") as step:
        quitting = tour.apply(section)
        tour.bidder_signs(quitting)
        step.result = f"guarantee {tour.issue(quitting)['baohanno']}"
    with tour.step("B's bidder quits before the bid opening; the institution accepts") as step:
        tour.call(tour.platform, "POST", f"/applications/{quitting}/quit", 202, json={"reason": "项目暂停"})
        tour.reaches("issuer", quitting, "quit_requested")
        tour.call(tour.issuer, "POST", f"/applications/{quitting}/quit/decision", 200, json={"accept": True})
        step.result = f"quit (退保) at {tour.reaches('platform', quitting, 'quit')['quit_at']}"

    with tour.step("Application C: applied, signed, approved, paid, issued") as step:
        cancelled = tour.apply(section)
        tour.bidder_signs(cancelled)
        step.result = f"guarantee {tour.issue(cancelled)['baohanno']}"
    with tour.step("The platform cancels C") as step:
        tour.call(tour.platform, "POST", f"/applications/{cancelled}/cancel", 202)
        tour.reaches("issuer", cancelled, "cancelled")
        step.result = "cancelled on both sides"

    with tour.step("Application D: its bidder gives it up at once") as step:
        dropped = tour.apply(section)
        tour.call(tour.platform, "POST", f"/applications/{dropped}/giveup", 202)
        tour.reaches("issuer", dropped, "given_up")
        tour.reaches("platform", dropped, "given_up")
        step.result = f"{dropped}: the institution accepted; given up on both sides"
    with tour.step("Application E: signed, then the institution gives it up") as step:
        declined = tour.apply(section)
        tour.bidder_signs(declined)
        tour.call(tour.issuer, "POST", f"/applications/{declined}/giveup", 202)
        tour.reaches("platform", declined, "given_up")
        tour.reaches("issuer", declined, "given_up")
        step.result = f"{declined}: the platform accepted; given up on both sides"

    with tour.step("The bid opens (the platform's 'open now'): A is restored") as step:
        opened = tour.call(tour.platform, "POST", f"/sections/{section}/open", 200)
        tour.reaches("issuer", main, "restored")
        restored = tour.reaches("platform", main, "restored")
        plain = _held(platform, tour.institution_id, main, "plain")
        attached = [a.data for a in read_attachments(plain) if a.file_name == SEALED_FILE]
        if attached != [sealed]:
            raise CLIError("the plain guarantee does not carry the sealed one byte for byte")
        step.result = (
            f"{opened['restoring']} guarantee to restore (B quit, C cancelled); the project key went to the "
            f"institution, which restored {', '.join(sorted(restored['project_fields']))} and sent the plain "
            f"OFD: {_verified(plain, ca, 'plain guarantee')}; it embeds the sealed one byte for byte"
        )
    (out / PLAIN_OFD).write_bytes(plain)

    with tour.step("A's bidder asks for the invoice; the institution issues it") as step:
        tour.call(tour.platform, "POST", f"/applications/{main}/invoice", 202, json={"type": "0"})
        tour.reaches("issuer", main, "invoice_requested")
        tour.call(tour.issuer, "POST", f"/applications/{main}/invoice", 200)
        tour.reaches("platform", main, "invoiced")
        notice = wait(
            lambda: next((line for line in tour.wire if _interface(line) == "invoicenotice"), None),
            "the invoicenotice",
        )
        invoice = httpx.get(notice["request"]["invoiceurl"], timeout=30)
        if invoice.status_code != 200 or not invoice.content.startswith(b"%PDF"):
            raise CLIError(f"the invoiceurl answered {invoice.status_code}, not a PDF")
        step.result = f"invoice {notice['request'].get('invoiceno')}: a PDF of {len(invoice.content)} bytes at the invoiceurl"
    (out / INVOICE_PDF).write_bytes(invoice.content)

    with tour.step("The tenderer claims on A; nobody stops it") as step:
        tour.call(
            tour.platform,
            "POST",
            f"/applications/{main}/claims",
            202,
            json={"applyusername": SECTION["zbr"], "applyuserphone": "13800000000", "payeramount": BZJ},
        )
        tour.reaches("issuer", main, "claimed")
        tour.reaches("issuer", main, "claim_paid")
        step.result = f"{BZJ} paid on first demand after the demo's {CLAIM_WAIT.seconds}-second wait"


def _groups(wire: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Consecutive messages to the same side on the same interface with the same answer, counted."""
    groups: list[tuple[dict[str, Any], int]] = []
    for line in wire:
        key = (line["to"], _interface(line), _answer(line).get("code"), _answer(line).get("message"))
        if groups:
            last, count = groups[-1]
            if (last["to"], _interface(last), _answer(last).get("code"), _answer(last).get("message")) == key:
                groups[-1] = (last, count + 1)
                continue
        groups.append((line, 1))
    return groups


def _report(steps: list[Step], wire: list[dict[str, Any]], out: Path, seconds: float) -> str:
    """The tour as a reader follows it: each step, what came of it, the messages it caused."""
    lines = [
        "",
        "baohan tender demo: a tender platform and a tender issuer on loopback, SQLite, real HTTP",
        "",
    ]
    for number, step in enumerate(steps, 1):
        lines += [f"{number:2}. {step.title} ({step.seconds:.1f} s)", f"    {step.result}"]
        for line, count in _groups(step.wire):
            sender = "issuer" if line["to"] == "platform" else "platform"
            answer = _answer(line)
            times = f"×{count}" if count > 1 else ""
            lines.append(
                f"      {sender:<8} → {line['to']:<8} {_interface(line):<25}{times:>4}  "
                f"code {answer.get('code')} {answer.get('message', '')}"
            )
    counts: dict[str, int] = {}
    for line in wire:
        counts[_interface(line)] = counts.get(_interface(line), 0) + 1
    lines += [
        "",
        f"  all {len(counts)} tender interfaces crossed, every answer code 1: "
        + ", ".join(f"{name}×{counts[name]}" for name in INTERFACES),
        f"  in {out}/: {SEALED_OFD}, {PLAIN_OFD} (embedding the sealed one), {INVOICE_PDF}, {TRANSCRIPT} "
        f"(every request and answer as sent), {REPORT}, the certificates, both databases",
        f"  the tour took {seconds:.1f} s",
        "",
    ]
    return "\n".join(lines)
