"""``baohan issuer …`` and ``baohan platform …``: every operator action of the procurement roles, on the database."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import typer

from baohan.cli.inputs import CLIError, Db, Limit, Offset, one_line_errors, print_json
from baohan.cli.roles import Schema, prepare_database, secret_box
from baohan.domain.lifecycle import Stage
from baohan.gm import SM2PublicKey
from baohan.protocols.profile import Profile
from baohan.services.procurement import views
from baohan.services.procurement.issuer import IssuerService
from baohan.services.procurement.platform import PlatformService
from baohan.services.procurement.role import OperatorError
from baohan.services.procurement.runtime import RoleRuntime, open_runtime
from baohan.services.procurement.views import (
    CLAIM_STATUSES,
    REFUND_STATUSES,
    Filters,
    application_view,
    claim_view,
    event_view,
    personal_view,
    refund_view,
)
from baohan.services.registry import IdentityExists
from baohan.services.views import Page, Window
from baohan.services.views import dead_letters as dead_letter_page

issuer_app = typer.Typer(
    help="Operate the issuer role (出函机构) of the procurement protocol.", no_args_is_help=True
)
platform_app = typer.Typer(
    help="Operate the platform role of the procurement protocol.", no_args_is_help=True
)

Reveal = Annotated[
    bool,
    typer.Option("--reveal", help="Show identity numbers in clear (recorded in the audit trail)."),
]
Actor = Annotated[str, typer.Option(help="Who asks (recorded when revealing).")]


def _runtime(role: str, db: str, schema: Schema) -> RoleRuntime:
    # Checked (and, for the setup commands, a new database made) before the runtime opens: a read or an
    # operator action never creates a database nor migrates one; `baohan db upgrade` does.
    box = prepare_database(db, secret_box(), schema)
    return open_runtime(role, db, box, migrate=False)


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CLIError(f"--amount {text!r} is not an amount like 625.00") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise CLIError("--amount must be non-negative with at most two decimals")
    return value.quantize(Decimal("0.01"))


def _run(role: str, db: str, action: Any, schema: Schema = "current") -> Any:
    runtime = _runtime(role, db, schema)
    try:
        return action(runtime)
    except OperatorError as exc:
        raise CLIError(str(exc)) from None
    finally:
        runtime.stop()


AppId = Annotated[str | None, typer.Option("--application-id", help="Only this applicationId.")]
GuaranteeId = Annotated[str | None, typer.Option("--guarantee-id", help="Only this guaranteeId.")]


def _one_of(option: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise CLIError(f"{option} {value!r} is not one of: {', '.join(allowed)}")
    return value


def _listed(page: Page) -> list[dict[str, Any]]:
    """The page's items (times in Beijing time, +08:00), saying on stderr when the listing holds more."""
    if page.total > page.offset + len(page.items):
        shown = f"{page.offset + 1}-{page.offset + len(page.items)}" if page.items else "none"
        typer.echo(f"showing {shown} of {page.total}; --offset for more", err=True)
    return page.items


def _claim(runtime: RoleRuntime, claim: Any) -> dict[str, Any]:
    return claim_view(claim, runtime.service.application(claim.application_pk), runtime.registry.box)


def _refund_request(runtime: RoleRuntime, request: Any) -> dict[str, Any]:
    return refund_view(request, runtime.service.application(request.application_pk))


def _issuer(runtime: RoleRuntime) -> IssuerService:
    assert isinstance(runtime.service, IssuerService)
    return runtime.service


def _platform(runtime: RoleRuntime) -> PlatformService:
    assert isinstance(runtime.service, PlatformService)
    return runtime.service


def _read_json(path: str) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8") if path != "-" else sys.stdin.read()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CLIError(f"{path}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CLIError(f"{path}: must hold a JSON object")
    return value


def _register(
    role: str,
    counterparty_role: str,
    db: str,
    name: str,
    appid: str,
    appkey: str,
    appsecret: str,
    public_key: str,
    url: str,
    profile: str,
    per_transcode_paths: bool,
) -> None:
    """Register a counterparty on ``role``'s database and print its id."""
    key_text = Path(public_key).read_text() if Path(public_key).is_file() else public_key
    try:
        settings = Profile.from_dict(json.loads(profile))
    except ValueError as exc:
        raise CLIError(f"--profile: {exc}") from None
    try:
        peer = _run(
            role,
            db,
            lambda rt: rt.registry.add_counterparty(
                name=name,
                role=counterparty_role,
                appid=appid,
                appkey=appkey,
                appsecret=appsecret,
                public_key=SM2PublicKey.load(key_text),
                endpoint_url=url,
                profile=settings,
                per_transcode_paths=per_transcode_paths,
            ),
            schema="create",
        )
    except ValueError as exc:  # an appid already registered
        raise CLIError(str(exc)) from None
    print_json({"id": peer.id, "name": peer.name, "appid": appid})


def _common(app: typer.Typer, role: str) -> None:
    @app.command("applications")
    @one_line_errors
    def applications(
        db: Db,
        stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
        application_id: AppId = None,
        guarantee_id: GuaranteeId = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> None:
        """List applications, newest first."""
        chosen = Filters(
            state=_one_of("--stage", stage, tuple(Stage)),
            application_id=application_id,
            guarantee_id=guarantee_id,
        )
        print_json(
            _run(
                role,
                db,
                lambda rt: _listed(
                    views.applications(rt.runtime.sessions, rt.service.side, chosen, Window(limit, offset))
                ),
            )
        )

    @app.command("show")
    @one_line_errors
    def show(key: str, db: Db, reveal: Reveal = False, actor: Actor = "cli") -> None:
        """One application (by id, applicationId or guaranteeId) with its history."""

        def shown(rt: RoleRuntime) -> dict[str, Any]:
            found = rt.service.application(key)
            if reveal:
                rt.service.record_reveal([found.id], actor, "applicant identity numbers")
            return {
                **application_view(found),
                "personal": personal_view(found, rt.registry.box, reveal=reveal),
                "history": [event_view(e) for e in rt.service.history(key)],
            }

        print_json(_run(role, db, shown))

    @app.command("file")
    @one_line_errors
    def file(
        key: str, db: Db, out: Annotated[Path, typer.Option("--out", help="Where to write the PDF.")]
    ) -> None:
        """Write an application's guarantee letter to a file."""
        name, content = _run(role, db, lambda rt: rt.service.file(key))
        out.write_bytes(content)
        typer.echo(f"{name} written to {out} ({len(content)} bytes)")

    @app.command("pause")
    @one_line_errors
    def pause(db: Db, off: Annotated[bool, typer.Option("--off", help="Resume instead.")] = False) -> None:
        """Pause the protocol endpoints (they answer 301) or, with --off, resume them."""
        _run(role, db, lambda rt: rt.service.pause(not off))
        typer.echo("resumed" if off else "paused")

    @app.command("dead-letters")
    @one_line_errors
    def dead_letters(db: Db, limit: Limit = 100, offset: Offset = 0) -> None:
        """Messages that kept failing past their deadline, oldest first."""
        print_json(
            _run(role, db, lambda rt: _listed(dead_letter_page(rt.runtime.sessions, Window(limit, offset))))
        )

    @app.command("retry")
    @one_line_errors
    def retry(message_id: str, db: Db) -> None:
        """Put a dead letter back in the queue."""
        try:
            _run(role, db, lambda rt: rt.retry_dead(message_id))
        except (LookupError, ValueError) as exc:  # no such message, or it is not dead
            raise CLIError(str(exc)) from None
        typer.echo(f"{message_id} queued again")

    @app.command("deliver")
    @one_line_errors
    def deliver(db: Db) -> None:
        """Deliver what is due in the outbox now (a running server does this continuously)."""
        count = _run(role, db, lambda rt: rt.dispatcher.run_once(500))
        typer.echo(f"{count} message(s) attempted")


_common(issuer_app, "issuer")
_common(platform_app, "platform")


@issuer_app.command("approve")
@one_line_errors
def approve(key: str, db: Db, actor: Annotated[str, typer.Option(help="Who decides.")] = "cli") -> None:
    """Approve an application in manual review (sends ELY102 01)."""
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: application_view(_issuer(rt).approve(_issuer(rt).application(key).id, actor)),
        )
    )


@issuer_app.command("reject")
@one_line_errors
def reject(
    key: str,
    db: Db,
    reason: Annotated[str, typer.Option(help="Why (sent to the platform).")],
    actor: Annotated[str, typer.Option(help="Who decides.")] = "cli",
) -> None:
    """Refuse an application in manual review (sends ELY102 02)."""
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: application_view(_issuer(rt).reject(_issuer(rt).application(key).id, reason, actor)),
        )
    )


@issuer_app.command("pay")
@one_line_errors
def pay(
    key: str,
    db: Db,
    amount: Annotated[str, typer.Option(help="The premium received, e.g. 625.00.")],
    paid_at: Annotated[str, typer.Option(help="ISO time with zone.")] = "",
    pay_type: Annotated[str, typer.Option(help="01 bank, 02 WeChat, 03 Alipay, 04 other.")] = "01",
    actor: Annotated[str, typer.Option(help="Who records it.")] = "cli",
) -> None:
    """Record the premium payment; the guarantee is issued at once (ELY102 05, then 03)."""
    when = datetime.now().astimezone() if not paid_at else datetime.fromisoformat(paid_at)
    if when.tzinfo is None:
        raise CLIError("--paid-at must carry a time zone, e.g. 2026-11-23T10:00:00+08:00")
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: application_view(
                _issuer(rt).record_payment(
                    _issuer(rt).application(key).id, _amount(amount), when, pay_type, actor
                )
            ),
        )
    )


@issuer_app.command("issue")
@one_line_errors
def issue(key: str, db: Db, actor: Annotated[str, typer.Option(help="Who issues.")] = "cli") -> None:
    """Issue again after a failed issue."""
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: application_view(_issuer(rt).issue(_issuer(rt).application(key).id, actor)),
        )
    )


@issuer_app.command("claims")
@one_line_errors
def claims(
    db: Db,
    status: Annotated[str | None, typer.Option(help="open, paid or refused.")] = None,
    application_id: AppId = None,
    guarantee_id: GuaranteeId = None,
    limit: Limit = 100,
    offset: Offset = 0,
    reveal: Reveal = False,
    actor: Actor = "cli",
) -> None:
    """List claims, newest first, with the application and guarantee each is on (the claimant's identity
    number masked unless --reveal)."""
    chosen = Filters(
        state=_one_of("--status", status, CLAIM_STATUSES),
        application_id=application_id,
        guarantee_id=guarantee_id,
    )

    def listed(rt: RoleRuntime) -> list[dict[str, Any]]:
        page = views.claims(
            rt.runtime.sessions, "issuer", chosen, Window(limit, offset), rt.registry.box, reveal=reveal
        )
        if reveal:
            rt.service.record_reveal(
                [item["application"] for item in page.items], actor, "claimant identity numbers"
            )
        return _listed(page)

    print_json(_run("issuer", db, listed))


@issuer_app.command("decide-claim")
@one_line_errors
def decide_claim(
    claim_id: str,
    db: Db,
    pay: Annotated[bool, typer.Option("--pay/--refuse", help="Pay or refuse the claim.")],
    amount: Annotated[str | None, typer.Option(help="Amount paid (default: as claimed).")] = None,
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    actor: Annotated[str, typer.Option(help="Who decides.")] = "cli",
) -> None:
    """Pay (ELY106 01) or refuse (ELY106 02) an open claim."""
    value = _amount(amount) if amount is not None else None
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: _claim(
                rt, _issuer(rt).decide_claim(claim_id, pay=pay, amount=value, reason=reason, actor=actor)
            ),
        )
    )


@issuer_app.command("refunds")
@one_line_errors
def refunds(
    db: Db,
    status: Annotated[str | None, typer.Option(help="pending, accepted or refused.")] = None,
    application_id: AppId = None,
    guarantee_id: GuaranteeId = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> None:
    """List ELY109 cancellations and surrenders sent to an operator (rules: refunds_by_operator)."""
    chosen = Filters(
        state=_one_of("--status", status, REFUND_STATUSES),
        application_id=application_id,
        guarantee_id=guarantee_id,
    )
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: _listed(views.refunds(rt.runtime.sessions, "issuer", chosen, Window(limit, offset))),
        )
    )


@issuer_app.command("decide-refund")
@one_line_errors
def decide_refund(
    request_id: str,
    db: Db,
    accept: Annotated[bool, typer.Option("--accept/--refuse", help="Accept or refuse the request.")],
    reason: Annotated[str, typer.Option(help="Why (required to refuse; sent as failReason).")] = "",
    actor: Annotated[str, typer.Option(help="Who decides.")] = "cli",
) -> None:
    """Accept (ELY102 07/08) or refuse (ELY102 06/09) a waiting cancellation or surrender."""
    print_json(
        _run(
            "issuer",
            db,
            lambda rt: _refund_request(
                rt, _issuer(rt).decide_refund(request_id, accept=accept, reason=reason, actor=actor)
            ),
        )
    )


@platform_app.command("add-institution")
@one_line_errors
def add_institution(
    db: Db,
    name: Annotated[str, typer.Option(help="Institution name.")],
    appid: Annotated[str, typer.Option(help="The appid we assign.")],
    appkey: Annotated[str, typer.Option(help="The appkey we assign.")],
    appsecret: Annotated[str, typer.Option(help="The appsecret we assign.")],
    public_key: Annotated[str, typer.Option(help="Its SM2 public key (hex or PEM file).")],
    url: Annotated[str, typer.Option(help="Its endpoint URL.")],
    profile: Annotated[str, typer.Option(help="Profile JSON.")] = "{}",
) -> None:
    """Register an institution we send applications to."""
    _register("platform", "institution", db, name, appid, appkey, appsecret, public_key, url, profile, False)


@platform_app.command("submit")
@one_line_errors
def submit(
    db: Db,
    institution: Annotated[str, typer.Option(help="Institution id.")],
    fields: Annotated[str, typer.Argument(help="JSON file with the ELY101 fields, or - for stdin.")],
    actor: Annotated[str, typer.Option(help="Who submits.")] = "cli",
) -> None:
    """Queue an application (ELY101) for an institution."""
    body = _read_json(fields)

    def send(runtime: RoleRuntime) -> dict[str, Any]:
        try:
            runtime.registry.peer(institution)
        except KeyError:
            raise CLIError(
                f"--institution {institution!r} is not a registered institution "
                "(`baohan counterparties list` shows their ids)"
            ) from None
        return application_view(_platform(runtime).submit(institution, body, actor))

    print_json(_run("platform", db, send))


@platform_app.command("claim")
@one_line_errors
def claim(
    key: str,
    db: Db,
    fields: Annotated[str, typer.Argument(help="JSON file with the claim fields.")],
    actor: Annotated[str, typer.Option(help="Who claims.")] = "cli",
) -> None:
    """Raise a claim (ELY105) on a live guarantee."""
    body = _read_json(fields)
    print_json(_run("platform", db, lambda rt: _claim(rt, _platform(rt).claim(key, body, actor))))


@platform_app.command("invalidate")
@one_line_errors
def invalidate(
    key: str,
    db: Db,
    invalid_type: Annotated[str, typer.Option("--type", help="0 fulfilled, 1 bad file.")] = "0",
    remark: Annotated[str | None, typer.Option(help="Remark.")] = None,
    actor: Annotated[str, typer.Option(help="Who.")] = "cli",
) -> None:
    """Invalidate a live guarantee (ELY107); the institution confirms with ELY108."""
    print_json(
        _run(
            "platform",
            db,
            lambda rt: application_view(_platform(rt).invalidate(key, invalid_type, remark, actor)),
        )
    )


def _refund(key: str, db: str, *, surrender: bool, reason: str | None, actor: str) -> None:
    print_json(
        _run(
            "platform",
            db,
            lambda rt: application_view(
                _platform(rt).refund(key, surrender=surrender, reason=reason, actor=actor)
            ),
        )
    )


@platform_app.command("cancel")
@one_line_errors
def cancel(
    key: str,
    db: Db,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    actor: Annotated[str, typer.Option(help="Who.")] = "cli",
) -> None:
    """Ask to cancel an order not yet issued (ELY109 02)."""
    _refund(key, db, surrender=False, reason=reason, actor=actor)


@platform_app.command("surrender")
@one_line_errors
def surrender(
    key: str,
    db: Db,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    actor: Annotated[str, typer.Option(help="Who.")] = "cli",
) -> None:
    """Ask to surrender a live guarantee (ELY109 01)."""
    _refund(key, db, surrender=True, reason=reason, actor=actor)


def _identity(
    role: str,
    db: str,
    key: str | None,
    cert: str | None,
    ca_cert: str | None,
    test_ca: bool,
    replace: bool = False,
) -> None:
    from baohan.cli.inputs import private_key
    from baohan.gm import SM2Certificate, SM2PrivateKey, issue_certificate, make_ca

    own = private_key(key) if key else SM2PrivateKey.generate()
    certificate = SM2Certificate.load(Path(cert).read_bytes()) if cert else None
    ca = SM2Certificate.load(Path(ca_cert).read_bytes()) if ca_cert else None
    if test_ca:
        if certificate is not None:
            raise CLIError("--test-ca makes a certificate; do not pass --cert too")
        ca_key = SM2PrivateKey.generate()
        ca = make_ca("CN=baohan Test CA (not for production),O=baohan,C=CN", ca_key)
        certificate = issue_certificate(ca, ca_key, "CN=baohan test issuer,C=CN", own.public_key)
    if certificate is not None and certificate.public_key != own.public_key:
        raise CLIError("--cert does not certify --key")
    if role == "issuer" and certificate is None:
        raise CLIError("an issuer signs its letters: give --cert (and --ca-cert), or --test-ca for a trial")
    try:
        _run(
            role,
            db,
            lambda rt: rt.registry.add_identity("default", own, certificate, ca, replace=replace),
            schema="create",
        )
    except IdentityExists as exc:
        raise CLIError(
            f"{exc}: pass --replace to sign with the new one (the old one is kept, retired, and letters "
            "it signed still verify)"
        ) from None
    print_json(
        {
            "public_key": own.public_key.to_hex(),
            "certificate_serial": certificate.info().serial if certificate else None,
            "institution_name": certificate.holder_name if certificate else None,
        }
    )


ReplaceOpt = Annotated[
    bool,
    typer.Option(
        "--replace", help="Replace the identity already set; the old one is kept, retired, not deleted."
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Our SM2 private key (hex, Base64 or PEM file); generated when absent."),
]


@issuer_app.command("set-identity")
@one_line_errors
def issuer_identity(
    db: Db,
    key: KeyOpt = None,
    cert: Annotated[str | None, typer.Option(help="Our signing certificate (PEM/DER file).")] = None,
    ca_cert: Annotated[str | None, typer.Option(help="Its CA certificate (PEM/DER file).")] = None,
    test_ca: Annotated[bool, typer.Option("--test-ca", help="Make a throwaway CA and certificate.")] = False,
    replace: ReplaceOpt = False,
) -> None:
    """Store our SM2 key (sealed under $BAOHAN_KEY_PASSPHRASE) and the certificate our letters are signed with.

    The letters name the institution the certificate names (its O, else its CN).
    """
    _identity("issuer", db, key, cert, ca_cert, test_ca, replace)


@platform_app.command("set-identity")
@one_line_errors
def platform_identity(db: Db, key: KeyOpt = None, replace: ReplaceOpt = False) -> None:
    """Store our SM2 key (sealed under $BAOHAN_KEY_PASSPHRASE); prints the public key to give institutions."""
    _identity("platform", db, key, None, None, False, replace)


@issuer_app.command("add-platform")
@one_line_errors
def add_platform(
    db: Db,
    name: Annotated[str, typer.Option(help="Platform name.")],
    appid: Annotated[str, typer.Option(help="The appid the platform assigned us.")],
    appkey: Annotated[str, typer.Option(help="The appkey it assigned.")],
    appsecret: Annotated[str, typer.Option(help="The appsecret it assigned.")],
    public_key: Annotated[str, typer.Option(help="Its SM2 public key (hex or PEM file).")],
    url: Annotated[str, typer.Option(help="Its endpoint, e.g. https://…/zcdservice/v1/lg/ELYApi.")],
    profile: Annotated[str, typer.Option(help="Profile JSON.")] = "{}",
    per_transcode_paths: Annotated[bool, typer.Option(help="Post to {url}/ELY102 … instead.")] = False,
) -> None:
    """Register the platform that sends us applications and receives our notices."""
    _register(
        "issuer",
        "platform",
        db,
        name,
        appid,
        appkey,
        appsecret,
        public_key,
        url,
        profile,
        per_transcode_paths,
    )
