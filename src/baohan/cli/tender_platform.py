"""``baohan tender-platform …``: the tender platform's operator and bidder actions, on the database.

The same services as the platform's admin API (``/admin/tender``): institutions, bid sections and their
offers, the bidder's submission, bid opening, and the requests to institutions. What goes to an
institution waits in the outbox until a running ``baohan serve tender --role platform`` (or ``deliver``)
sends it. JSON on stdout; a mistake is one ``error:`` line naming the option, exit status 2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from baohan.cli.inputs import (
    CLIError,
    Db,
    Limit,
    Offset,
    decimal_option,
    file_or_text,
    http_url,
    one_line_errors,
    print_json,
    public_key,
)
from baohan.cli.inputs import TenderKey as Key
from baohan.cli.roles import Schema, prepare_database, secret_box
from baohan.domain.tender import check_money, check_rate
from baohan.gm.errors import GMError
from baohan.protocols.tender.profile import TenderProfile
from baohan.services.runtime import RuntimeSettings
from baohan.services.tender import views
from baohan.services.tender.platform import Quote, TenderPlatform
from baohan.services.tender.platform_runtime import PlatformRuntime, open_platform
from baohan.services.tender.registry import check_appsecret
from baohan.services.views import Page, Window, counterparty_view, plain

app = typer.Typer(
    help="Operate the platform role (交易平台) of the tender protocol: institutions, bid sections, "
    "bidders' applications.",
    no_args_is_help=True,
)
T = TypeVar("T")

Actor = Annotated[str, typer.Option(help="Who asks (kept in the history).")]
Section = Annotated[str, typer.Argument(help="The bid section's id (`sections` lists them).")]
BidderCode = Annotated[str, typer.Option(help="The bidder's unified social credit code (biddercode).")]
BZJ_EXAMPLE, RATE_EXAMPLE = "80000.00", "0.0150"


def _run(db: str, action: Callable[[PlatformRuntime], T], schema: Schema = "current") -> T:
    """``action`` on the platform hosted on ``db``; the services' refusals as one-line errors."""
    # Checked first: a read or an action never makes nor migrates a database (`baohan db upgrade` does).
    box = prepare_database(db, secret_box(), schema)
    runtime = open_platform(db, box, ground=RuntimeSettings(migrate=False))
    try:
        return action(runtime)
    except LookupError as exc:  # no such application, section, institution
        raise CLIError(str(exc).strip("'\"")) from None
    except ValueError as exc:  # PlatformError and the registry's refusals name the field
        raise CLIError(str(exc)) from None
    finally:
        runtime.stop()


def _decimal(option: str, text: str, check: Callable[[str, Decimal], Decimal], example: str) -> Decimal:
    """``text`` as the Decimal ``option`` takes, checked by the domain's ``check``."""
    value = decimal_option(option, text, example)
    try:
        return check(option, value)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _time(option: str, text: str) -> datetime:
    """``text`` as an aware time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CLIError(f"{option} {text!r} is not an ISO 8601 time like 2026-12-01T09:30:00+08:00") from None
    if value.utcoffset() is None:
        raise CLIError(f"{option} must carry a time zone, e.g. 2026-12-01T09:30:00+08:00")
    return value


def _certificate(path: Path) -> str:
    """The PEM text of the bidder's certificate file (the service checks it is an SM2 certificate)."""
    if not path.is_file():
        raise CLIError(f"--certificate: no file {path}")
    try:
        return path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise CLIError(f"--certificate: {path} is not a PEM certificate") from None


def _profile(text: str, platformcode: str | None) -> dict[str, Any]:
    """The wire profile from JSON (text or a file), ``platformcode`` set when given; checked."""
    source = file_or_text(text)
    try:
        data = json.loads(source)
    except ValueError as exc:
        raise CLIError(f"--profile: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CLIError("--profile: must be a JSON object")
    if platformcode is not None:
        data["platformcode"] = platformcode
    try:
        return TenderProfile.from_dict(data).to_dict()
    except (TypeError, ValueError) as exc:
        raise CLIError(f"--profile: {exc}") from None


def _quote(quote: Quote) -> dict[str, Any]:
    return {name: plain(value) for name, value in asdict(quote).items()}


def _application(platform: TenderPlatform, key: str) -> dict[str, Any]:
    return views.application_view(platform.find(key))


@app.command("add-institution")
@one_line_errors
def add_institution(
    db: Db,
    name: Annotated[str, typer.Option(help="The institution's name.")],
    appkey: Annotated[str, typer.Option(help="The appkey we issue it (names it on the wire).")],
    appsecret: Annotated[str, typer.Option(help="The appsecret we issue it (8 to 128 characters).")],
    key: Annotated[
        str, typer.Option("--public-key", help="Its SM2 public key: hex, Base64 or a PEM/DER file.")
    ],
    url: Annotated[str, typer.Option(help="Where it serves the tender interfaces (its prefix).")],
    platformcode: Annotated[
        str | None, typer.Option(help="Our platformcode with it (a profile setting; overrides --profile's).")
    ] = None,
    profile: Annotated[str, typer.Option(help="Its wire profile: JSON, or a file holding it.")] = "{}",
) -> None:
    """Register an institution (出函机构) that bidders may choose; its appsecret is sealed at rest."""
    try:
        peer_key = public_key(key)
    except GMError as exc:
        raise CLIError(f"--public-key: {exc}") from None
    endpoint = http_url(url, "--url")
    settings = _profile(profile, platformcode)
    try:
        check_appsecret(appsecret)
    except ValueError as exc:
        raise CLIError(f"--{exc}") from None
    if not 1 <= len(name) <= 200:
        raise CLIError("--name: 1 to 200 characters")

    def register(rt: PlatformRuntime) -> dict[str, Any]:
        try:  # checked first: a counterparty is loaded with our key, and registering would half succeed
            rt.registry.identity()
        except KeyError:
            raise CLIError("the platform has no key yet: run `baohan platform set-identity` first") from None
        peer = rt.registry.add(
            name=name,
            role="institution",
            appkey=appkey,
            appsecret=appsecret,
            public_key=peer_key,
            endpoint_url=endpoint,
            profile=settings,
        )
        return counterparty_view(next(item for item in rt.registry.listing() if item.id == peer.id))

    print_json(_run(db, register, schema="create"))


@app.command("add-section")
@one_line_errors
def add_section(
    db: Db,
    biaoduanno: Annotated[str, typer.Option(help="The bid section's number (标段编号).")],
    biaoduanname: Annotated[str, typer.Option(help="Its name (标段名称).")],
    zbr: Annotated[str, typer.Option(help="The tenderer (招标人).")],
    kaibiaotime: Annotated[str, typer.Option(help="Bid opening, ISO 8601 with a zone.")],
    zbrorgnum: Annotated[str | None, typer.Option(help="The tenderer's credit code.")] = None,
    key_text: Annotated[
        str, typer.Option(help="hex, or ascii for institutions that take the project key as 16 characters.")
    ] = "hex",
) -> None:
    """A bid section with a fresh project key; its fields leave the platform only sealed until it opens."""
    opening = _time("--kaibiaotime", kaibiaotime)
    if key_text not in ("hex", "ascii"):
        raise CLIError(f"--key-text must be hex or ascii, not {key_text!r}")
    text: Literal["hex", "ascii"] = "ascii" if key_text == "ascii" else "hex"
    fields = {
        "biaoduanno": biaoduanno,
        "biaoduanname": biaoduanname,
        "zbr": zbr,
        "zbrorgnum": zbrorgnum or "",
    }
    print_json(_run(db, lambda rt: {"id": rt.service.add_section(fields, opening, key_text=text)}))


@app.command("sections")
@one_line_errors
def sections(db: Db, limit: Limit = 100, offset: Offset = 0) -> None:
    """The bid sections by bid opening: number, opening time, whether opened (fields stay sealed)."""
    found = _run(db, lambda rt: rt.service.sections_list())
    rows = [{k: plain(v) for k, v in row.items()} for row in found[offset : offset + limit]]
    print_json(Page(rows, len(found), limit, offset).plain())


@app.command("offer")
@one_line_errors
def offer(
    section: Section,
    db: Db,
    bidder_code: BidderCode,
    institution: Annotated[str, typer.Option(help="The institution's id.")],
    product: Annotated[str, typer.Option(help="Its product (e.g. 投标保函).")],
    rate: Annotated[str, typer.Option(help=f"The premium rate, e.g. {RATE_EXAMPLE}.")],
    bzj_amount: Annotated[str, typer.Option(help=f"The bid bond in yuan, e.g. {BZJ_EXAMPLE}.")],
) -> None:
    """Record an institution's offer to a bidder on the section (premium = rate × bid bond)."""
    chosen_rate = _decimal("--rate", rate, check_rate, RATE_EXAMPLE)
    bond = _decimal("--bzj-amount", bzj_amount, check_money, BZJ_EXAMPLE)
    print_json(
        _run(
            db,
            lambda rt: _quote(
                rt.service.offer(section, bidder_code, institution, product, chosen_rate, bond)
            ),
        )
    )


@app.command("quotes")
@one_line_errors
def quotes(section: Section, db: Db, bidder_code: BidderCode) -> None:
    """The offers to a bidder on the section, cheapest first: institution, product, rate, premium."""

    def listed(rt: PlatformRuntime) -> list[dict[str, Any]]:
        rt.service.section(section)  # an unknown section is an error here, not an empty list
        return [_quote(q) for q in rt.service.quotes(section, bidder_code)]

    print_json(_run(db, listed))


@app.command("submit")
@one_line_errors
def submit(
    db: Db,
    section: Annotated[str, typer.Option(help="The bid section's id.")],
    institution: Annotated[str, typer.Option(help="The institution whose offer the bidder chose.")],
    bidder_name: Annotated[str, typer.Option(help="The bidder's name (biddername).")],
    bidder_code: BidderCode,
    bzj_amount: Annotated[str, typer.Option(help=f"The bid bond in yuan, e.g. {BZJ_EXAMPLE}.")],
    certificate: Annotated[
        Path, typer.Option(help="The bidder's SM2 certificate (PEM file): the application is sealed for it.")
    ],
    product: Annotated[
        str | None, typer.Option(help="The institution's product, when it offers several.")
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0, max=300, help="Seconds to wait for the institution's redirecturl (a running server sends)."
        ),
    ] = 0,
) -> None:
    """The bidder applies with an institution's offer: baohanapply goes to it (through the outbox); prints
    the application and the redirecturl where the bidder opens it, once the institution answered."""
    bond = _decimal("--bzj-amount", bzj_amount, check_money, BZJ_EXAMPLE)
    pem = _certificate(certificate)

    def send(rt: PlatformRuntime) -> dict[str, Any]:
        platform = rt.service
        quote = platform.offer_of(section, bidder_code, institution, product)
        sent = platform.submit(
            section,
            quote.id,
            bidder_name=bidder_name,
            bidder_code=bidder_code,
            bzj_amount=bond,
            certificate_pem=pem,
        )
        deadline = time.monotonic() + wait
        url = platform.redirect_url(sent.id)
        while url is None and time.monotonic() < deadline:
            time.sleep(0.2)
            url = platform.redirect_url(sent.id)
        return {**views.application_view(sent), "redirecturl": url}

    shown = _run(db, send)
    print_json(shown)
    if shown["redirecturl"] is None:
        typer.echo(
            f"no redirecturl yet: `baohan tender-platform redirect {shown['id']}` once baohanapply is "
            "delivered (a running server, or `deliver`)",
            err=True,
        )


@app.command("redirect")
@one_line_errors
def redirect(key: Key, db: Db) -> None:
    """Where the bidder opens the application (the institution's redirecturl), once it answered."""
    print_json(_run(db, lambda rt: {"redirecturl": rt.service.redirect_url(rt.service.find(key).id)}))


@app.command("applications")
@one_line_errors
def applications(
    db: Db,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    counterparty: Annotated[str | None, typer.Option(help="Only this institution's (its id).")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> None:
    """Applications, newest first (project fields sealed until restored)."""
    try:
        filters = views.Filters("platform", stage, counterparty)
    except ValueError as exc:
        raise CLIError(f"--{exc}") from None
    print_json(
        _run(db, lambda rt: views.applications(rt.context.sessions, Window(limit, offset), filters).plain())
    )


@app.command("show")
@one_line_errors
def show(key: Key, db: Db) -> None:
    """One application by our id, its applyno or its baohanno."""
    print_json(_run(db, lambda rt: _application(rt.service, key)))


@app.command("history")
@one_line_errors
def history(key: Key, db: Db) -> None:
    """An application's history, oldest first: what happened, who did it, when."""
    print_json(_run(db, lambda rt: views.history(rt.context.sessions, rt.service.find(key).id)))


@app.command("open")
@one_line_errors
def open_(section: Section, db: Db) -> None:
    """Open the bid section now: baohanrestore is scheduled for every issued guarantee of it."""
    print_json(_run(db, lambda rt: {"restoring": rt.service.open_section_now(section)}))


def _request(db: str, key: str, ask: Callable[[TenderPlatform, str], object]) -> None:
    """``ask`` about the application ``key``, then print it as it now is."""

    def asked(rt: PlatformRuntime) -> dict[str, Any]:
        pk = rt.service.find(key).id
        ask(rt.service, pk)
        return _application(rt.service, pk)

    print_json(_run(db, asked))


@app.command("quit")
@one_line_errors
def quit_(
    key: Key,
    db: Db,
    reason: Annotated[str, typer.Option(help="Why the guarantee should be taken back.")],
    actor: Actor = "cli",
) -> None:
    """Ask the institution to take the guarantee back (quitapply), before the bid opens."""
    _request(db, key, lambda p, pk: p.quit(pk, reason, actor=actor))


@app.command("cancel")
@one_line_errors
def cancel(key: Key, db: Db, actor: Actor = "cli") -> None:
    """Cancel the guarantee (canclenotice), if the institution takes cancellations."""
    _request(db, key, lambda p, pk: p.cancel(pk, actor=actor))


@app.command("claim")
@one_line_errors
def claim(
    key: Key,
    db: Db,
    applyusername: Annotated[str, typer.Option(help="Who claims (the tenderer's contact).")],
    applyuserphone: Annotated[str, typer.Option(help="Their phone.")],
    amount: Annotated[str | None, typer.Option(help=f"The amount claimed, e.g. {BZJ_EXAMPLE}.")] = None,
    payeraccount: Annotated[str | None, typer.Option(help="The account to pay.")] = None,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    file_url: Annotated[
        list[str] | None, typer.Option(help="A claim document's URL (repeat for each).")
    ] = None,
    actor: Actor = "cli",
) -> None:
    """Claim on the guarantee (claimsnotice), its documents listed by URL for the institution to fetch."""
    value = _decimal("--amount", amount, check_money, BZJ_EXAMPLE) if amount is not None else None
    urls = [http_url(url, "--file-url") for url in file_url or ()]
    _request(
        db,
        key,
        lambda p, pk: p.claim(
            pk,
            applyusername=applyusername,
            applyuserphone=applyuserphone,
            payeraccount=payeraccount,
            payeramount=value,
            reason=reason,
            file_urls=urls,
            actor=actor,
        ),
    )


@app.command("give-up")
@one_line_errors
def give_up(key: Key, db: Db, actor: Actor = "bidder") -> None:
    """The bidder gives the application up (giveupapply); the institution decides. Prints the give-up's id."""
    print_json(_run(db, lambda rt: {"id": rt.service.give_up(rt.service.find(key).id, actor=actor)}))


@app.command("invoice")
@one_line_errors
def invoice(
    key: Key,
    db: Db,
    invoice_type: Annotated[
        str, typer.Option("--type", help="0 普票, or 1 专票 (needs address, phone, bank, account).")
    ],
    address: Annotated[str | None, typer.Option(help="The buyer's address.")] = None,
    phone: Annotated[str | None, typer.Option(help="The buyer's phone.")] = None,
    bank: Annotated[str | None, typer.Option(help="The buyer's bank.")] = None,
    account: Annotated[str | None, typer.Option(help="The buyer's bank account.")] = None,
    email: Annotated[str | None, typer.Option(help="Where to send the invoice.")] = None,
    mobile: Annotated[str | None, typer.Option(help="A mobile number.")] = None,
    contactname: Annotated[str | None, typer.Option(help="The contact's name.")] = None,
    contactaddress: Annotated[str | None, typer.Option(help="The contact's address.")] = None,
    actor: Actor = "bidder",
) -> None:
    """Ask for the premium's invoice (invoiceapply)."""
    given = {
        "type": invoice_type,
        "address": address,
        "phone": phone,
        "bank": bank,
        "account": account,
        "email": email,
        "mobile": mobile,
        "contactname": contactname,
        "contactaddress": contactaddress,
    }
    details = {name: value for name, value in given.items() if value is not None}
    _request(db, key, lambda p, pk: p.invoice(pk, details, actor=actor))


@app.command("pause")
@one_line_errors
def pause(db: Db, off: Annotated[bool, typer.Option("--off", help="Resume instead.")] = False) -> None:
    """Pause the platform's tender endpoints (every request answered "paused") or, with --off, resume."""
    _run(db, lambda rt: rt.service.pause(not off))
    typer.echo("resumed" if off else "paused")


@app.command("deliver")
@one_line_errors
def deliver(db: Db) -> None:
    """Deliver what is due in the outbox now (a running server does this continuously)."""
    count = _run(db, lambda rt: rt.dispatcher.run_once(500))
    typer.echo(f"{count} message(s) attempted")
