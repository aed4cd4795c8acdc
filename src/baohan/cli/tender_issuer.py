"""``baohan tender-issuer …``: the tender issuer's operator actions (出函机构), on the database.

The same services as the issuer's admin API (``/admin/tender``): underwrite, record the payment, issue the
sealed guarantee, then invoices, quits, claims and giving up; the outbox's dead letters; the pause. What
goes to the platform waits in the outbox until a server or ``baohan dispatch tender`` sends it. The
issuer's settings (its name, credit code, public URL, files directory) are given as ``baohan serve tender``
takes them, before the command or in the environment. JSON on stdout; a mistake is one ``error:`` line,
exit status 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from baohan.cli.hosting import (
    CreditCode,
    FilesDir,
    InstitutionName,
    PublicUrl,
    check_settings,
    checked_url,
    open_roles,
)
from baohan.cli.inputs import CLIError, Db, Limit, Offset, decimal_option, one_line_errors, print_json
from baohan.cli.inputs import TenderKey as Key
from baohan.cli.roles import prepare_database, secret_box
from baohan.services.hosting import RoleSettings
from baohan.services.tender import views
from baohan.services.tender.aftercare import Aftercare
from baohan.services.tender.issuer import IssuerService
from baohan.services.tender.registry import PROTOCOL
from baohan.services.tender.runtime import IssuerRuntime
from baohan.services.views import Period, Window
from baohan.services.views import dead_letters as dead_letter_page

app = typer.Typer(
    help="Operate the issuer role (出函机构) of the tender protocol: underwrite, issue, aftercare.",
    no_args_is_help=True,
)
T = TypeVar("T")

Actor = Annotated[str, typer.Option(help="Who acts (kept in the history).")]
Reason = Annotated[str, typer.Option(help="Why (kept in the history; sent where the spec has a field).")]


@dataclass(frozen=True)
class _Issuer:
    """The issuer's settings, as the group's options gave them."""

    institution_name: str | None
    public_url: str | None
    credit_code: str
    files_dir: Path | None


@app.callback()
def _issuer(
    ctx: typer.Context,
    institution_name: InstitutionName = None,
    public_url: PublicUrl = None,
    credit_code: CreditCode = "",
    files_dir: FilesDir = None,
) -> None:
    """Operate the issuer role (出函机构) of the tender protocol, on its database.

    The issuer's settings come as `baohan serve tender` takes them (here, before the command, or from
    $BAOHAN_INSTITUTION_NAME, $BAOHAN_CREDIT_CODE, $BAOHAN_PUBLIC_URL, $BAOHAN_FILES_DIR). Needs
    $BAOHAN_KEY_PASSPHRASE.
    """
    ctx.obj = _Issuer(institution_name, public_url, credit_code.strip(), files_dir)


def _run(ctx: typer.Context, db: str, action: Callable[[IssuerRuntime], T]) -> T:
    """``action`` on the tender issuer hosted on ``db``; the services' refusals as one-line errors."""
    given: _Issuer = ctx.obj
    settings = RoleSettings(
        role="issuer",
        db=db,
        protocols=(PROTOCOL,),
        institution_name=given.institution_name,
        files_dir=given.files_dir.resolve() if given.files_dir else None,
        public_url=checked_url(given.public_url),
        credit_code=given.credit_code,
    )
    check_settings(settings)
    # Checked first: a read or an action never makes nor migrates a database (`baohan db upgrade` does).
    box = prepare_database(db, secret_box())
    runtime = open_roles(settings, box)
    try:
        return action(IssuerRuntime(runtime, runtime.role(PROTOCOL, "issuer")))
    except LookupError as exc:  # no such application, dead letter
        raise CLIError(str(exc).strip("'\"")) from None
    except ValueError as exc:  # the lifecycle's and the services' refusals say why
        raise CLIError(str(exc)) from None
    finally:
        runtime.stop()


def _act(ctx: typer.Context, db: str, key: str, action: Callable[[IssuerService, str], Any]) -> None:
    """``action`` on the application ``key`` names (our id, applyno or baohanno); prints what it answers."""

    def acted(rt: IssuerRuntime) -> Any:
        found = rt.service.find(key).id
        done = action(rt.service, found)
        return done if isinstance(done, dict) else views.application_view(done)

    print_json(_run(ctx, db, acted))


@app.command("applications")
@one_line_errors
def applications(
    ctx: typer.Context,
    db: Db,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    counterparty_id: Annotated[str | None, typer.Option(help="Only this platform's (its id).")] = None,
    created_from: Annotated[
        str | None, typer.Option(help="Created at or after: a date (a Beijing day) or an ISO time with zone.")
    ] = None,
    created_to: Annotated[
        str | None, typer.Option(help="Created before this ISO time, or on or before this date.")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> None:
    """Applications, newest first (project fields sealed until restored)."""
    try:  # read as the admin API reads them: a bare date is a whole Beijing day
        filters = views.Filters("issuer", stage, counterparty_id, Period.parse(created_from, created_to))
    except ValueError as exc:  # each names its field first, whose option is --field
        field, _, rest = str(exc).partition(" ")
        raise CLIError(f"--{field.replace('_', '-')} {rest}") from None
    print_json(
        _run(ctx, db, lambda rt: views.applications(rt.sessions, Window(limit, offset), filters).plain())
    )


@app.command("show")
@one_line_errors
def show(ctx: typer.Context, key: Key, db: Db) -> None:
    """One application by our id, its applyno or its baohanno, with its quits, claims, invoices and
    give-ups."""

    def shown(rt: IssuerRuntime) -> dict[str, Any]:
        found = rt.service.find(key)
        return {**views.application_view(found), "aftercare": Aftercare(rt.context).records(found.id)}

    print_json(_run(ctx, db, shown))


@app.command("history")
@one_line_errors
def history(ctx: typer.Context, key: Key, db: Db) -> None:
    """An application's history, oldest first: what happened, who did it, when."""
    print_json(_run(ctx, db, lambda rt: views.history(rt.sessions, rt.service.find(key).id)))


@app.command("approve")
@one_line_errors
def approve(
    ctx: typer.Context,
    key: Key,
    db: Db,
    rate: Annotated[str, typer.Option(help="The premium rate, e.g. 0.0150 (below 1, six decimals at most).")],
    cost: Annotated[str | None, typer.Option(help="The premium in yuan (default: rate × bid bond).")] = None,
    baohanno: Annotated[str | None, typer.Option(help="The guarantee number (default: a fresh one).")] = None,
    actor: Actor = "cli",
) -> None:
    """Underwrite: baohannotice applystatus 1 with the guarantee number, rate and premium."""
    chosen_rate = decimal_option("--rate", rate, "0.0150")
    chosen_cost = None if cost is None else decimal_option("--cost", cost, "1200.00")
    _act(
        ctx,
        db,
        key,
        lambda issuer, pk: issuer.approve(
            pk, rate=chosen_rate, cost=chosen_cost, baohanno=baohanno, actor=actor
        ),
    )


@app.command("reject")
@one_line_errors
def reject(ctx: typer.Context, key: Key, db: Db, reason: Reason, actor: Actor = "cli") -> None:
    """Decline to underwrite: baohannotice applystatus 0."""
    _act(ctx, db, key, lambda issuer, pk: issuer.reject(pk, reason=reason, actor=actor))


@app.command("payment")
@one_line_errors
def payment(
    ctx: typer.Context,
    key: Key,
    db: Db,
    amount: Annotated[str, typer.Option(help="The premium received, in yuan, e.g. 1200.00.")],
    payer_name: Annotated[
        str | None,
        typer.Option(help="The payer, when paid from the bidder's basic account (with --payer-account)."),
    ] = None,
    payer_account: Annotated[str | None, typer.Option(help="The basic account it was paid from.")] = None,
    actor: Actor = "cli",
) -> None:
    """Record the premium paid (the approved premium, no other amount)."""
    paid = decimal_option("--amount", amount, "1200.00")
    _act(
        ctx,
        db,
        key,
        lambda issuer, pk: issuer.record_payment(
            pk, amount=paid, payer_name=payer_name, payer_account=payer_account, actor=actor
        ),
    )


@app.command("issue")
@one_line_errors
def issue(ctx: typer.Context, key: Key, db: Db, actor: Actor = "cli") -> None:
    """Issue the sealed guarantee: made and sealed now, uploaded in slices and announced complete by the
    outbox."""
    _act(ctx, db, key, lambda issuer, pk: issuer.issue(pk, actor=actor))


@app.command("invoice")
@one_line_errors
def invoice(ctx: typer.Context, key: Key, db: Db, actor: Actor = "cli") -> None:
    """Issue the invoice asked for: numbered, drawn, served by an unguessable link under --public-url
    (invoicenotice applystatus 1)."""
    if not ctx.obj.public_url:
        raise CLIError(
            "invoice needs --public-url (or $BAOHAN_PUBLIC_URL): the invoice link is the issuer's public URL"
        )
    _act(ctx, db, key, lambda issuer, pk: Aftercare(issuer.context).issue_invoice(pk, actor=actor))


@app.command("refuse-invoice")
@one_line_errors
def refuse_invoice(ctx: typer.Context, key: Key, db: Db, reason: Reason, actor: Actor = "cli") -> None:
    """Refuse the invoice asked for, with a reason (invoicenotice applystatus 0)."""
    _act(ctx, db, key, lambda issuer, pk: Aftercare(issuer.context).refuse_invoice(pk, reason, actor=actor))


@app.command("quit")
@one_line_errors
def quit_(
    ctx: typer.Context,
    key: Key,
    db: Db,
    accept: Annotated[bool, typer.Option("--accept/--refuse", help="Accept the quit or refuse it.")],
    reason: Annotated[str | None, typer.Option(help="Why (required to refuse).")] = None,
    actor: Actor = "cli",
) -> None:
    """Decide the quit asked for (退保, only before the bid opens): quitnotice 1 with tuibaotime, or 0."""
    _act(
        ctx,
        db,
        key,
        lambda issuer, pk: Aftercare(issuer.context).decide_quit(
            pk, accept=accept, reason=reason, actor=actor
        ),
    )


@app.command("stop-claim")
@one_line_errors
def stop_claim(ctx: typer.Context, key: Key, db: Db, reason: Reason, actor: Actor = "cli") -> None:
    """Stop the open claim before it is due, with a reason; unstopped, it is paid on first demand."""
    _act(ctx, db, key, lambda issuer, pk: Aftercare(issuer.context).stop_claim(pk, reason, actor=actor))


@app.command("give-up")
@one_line_errors
def give_up(ctx: typer.Context, key: Key, db: Db, actor: Actor = "cli") -> None:
    """Give the application up (giveupnotice); the platform may refuse, and then nothing changes."""
    _act(ctx, db, key, lambda issuer, pk: Aftercare(issuer.context).give_up(pk, actor=actor))


@app.command("dead-letters")
@one_line_errors
def dead_letters(ctx: typer.Context, db: Db, limit: Limit = 100, offset: Offset = 0) -> None:
    """Messages that kept failing past their deadline, or were refused for good, oldest first."""
    print_json(_run(ctx, db, lambda rt: dead_letter_page(rt.sessions, Window(limit, offset)).plain()))


@app.command("retry")
@one_line_errors
def retry(ctx: typer.Context, message_id: str, db: Db) -> None:
    """Put a dead letter back in the queue."""
    _run(ctx, db, lambda rt: rt.retry_dead(message_id))
    print_json({"retried": message_id})


@app.command("pause")
@one_line_errors
def pause(
    ctx: typer.Context, db: Db, off: Annotated[bool, typer.Option("--off", help="Resume instead.")] = False
) -> None:
    """Pause the issuer's tender endpoints (every request answered "paused") or, with --off, resume them."""
    _run(ctx, db, lambda rt: rt.service.pause(not off))
    print_json({"paused": not off})
