"""``baohan demo``: procurement here (a platform and an issuer on loopback, every flow over real HTTP); the
tender tour in :mod:`baohan.cli.demo_tender`."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from baohan.adapters.documents.letter import LetterTemplateError, check_letter_setup
from baohan.adapters.keystore import SecretBox
from baohan.adapters.outbox import RetryPolicy
from baohan.cli import demo_tender
from baohan.cli.demo_kit import fresh_folder, recorded, wait
from baohan.cli.inputs import CLIError, one_line_errors
from baohan.protocols.procurement.samples import sample_application
from baohan.services.procurement.pairing import AppCredentials, pair
from baohan.services.procurement.runtime import open_runtime
from baohan.web.procurement import create_app
from baohan.web.serving import BackgroundServer, free_port

app = typer.Typer(help="Demonstrations on loopback.", no_args_is_help=True)
PREFIX = "/zcdservice/v1/lg/ELYApi"
app.command("tender")(demo_tender.tender)


@app.command("procurement")
@one_line_errors
def procurement(
    out: Annotated[Path, typer.Option(help="Folder for the PDFs, transcript and report.")] = Path(
        "demo-output/procurement"
    ),
) -> None:
    """Run every procurement interface between our platform and our issuer, and print what happened."""
    try:  # the font and the letter's template, checked before anything runs rather than at the first letter
        check_letter_setup()
    except LetterTemplateError as exc:
        raise CLIError(str(exc)) from None
    fresh_folder(out)
    box = SecretBox(secrets.token_urlsafe(24))
    fast = RetryPolicy(base=timedelta(milliseconds=100), max_delay=timedelta(seconds=2))
    issuer = open_runtime("issuer", f"sqlite:///{out}/issuer.db", box, policy=fast)
    platform = open_runtime("platform", f"sqlite:///{out}/platform.db", box, policy=fast)
    ip, pp = free_port(), free_port()
    paired = pair(
        issuer.registry,
        platform.registry,
        issuer_url=f"http://127.0.0.1:{ip}{PREFIX}",
        platform_url=f"http://127.0.0.1:{pp}{PREFIX}",
        credentials=AppCredentials("DEMO0001", secrets.token_hex(8), secrets.token_hex(16)),
        institution="baohan 示范担保有限公司",
        ca_name="baohan Demo CA",
    )
    (out / "ca.pem").write_text(paired.issuer.ca.to_pem())
    (out / "issuer-certificate.pem").write_text(paired.issuer.certificate.to_pem())
    token = secrets.token_urlsafe(16)
    wire: list[dict[str, Any]] = []
    servers = [
        BackgroundServer(recorded(create_app(issuer, admin_token=token), "issuer", wire, PREFIX), ip),
        BackgroundServer(recorded(create_app(platform, admin_token=token), "platform", wire, PREFIX), pp),
    ]
    auth = {"Authorization": f"Bearer {token}"}
    report: list[tuple[str, str]] = []
    try:
        with (
            httpx.Client(base_url=f"{servers[0].admin_url}/admin", headers=auth, timeout=60) as bank_api,
            httpx.Client(base_url=f"{servers[1].admin_url}/admin", headers=auth, timeout=60) as platform_api,
        ):
            _flows(bank_api, platform_api, paired.institution_id, out, report)
    finally:
        for server in servers:
            server.stop()
        issuer.stop()
        platform.stop()
    # One endpoint serves every transcode: each line names the one its request carries.
    wire = [
        {
            "to": line["to"],
            "transcode": line["request"].get("transcode"),
            "msgcode": line["request"].get("msgcode"),
        }
        | line
        for line in wire
    ]
    with open(out / "transcript.jsonl", "w", encoding="utf-8") as handle:
        for line in wire:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    width = max(len(step) for step, _ in report)
    typer.echo("\nbaohan procurement demo: platform and issuer on loopback, SQLite, real HTTP\n")
    for step, result in report:
        typer.echo(f"  {step.ljust(width)}  {result}")
    counts: dict[str, int] = {}
    for line in wire:
        counts[line["transcode"]] = counts.get(line["transcode"], 0) + 1
    typer.echo(f"\n  wire messages: {', '.join(f'{k}×{v}' for k, v in sorted(counts.items()))}")
    typer.echo(
        f"  files in {out}/: signed guarantee PDFs, transcript.jsonl (every request and answer as sent),"
        " ca.pem, issuer-certificate.pem, both databases"
    )


def _flows(
    bank: httpx.Client, platform: httpx.Client, institution: str, out: Path, report: list[tuple[str, str]]
) -> None:
    def submit(app_id: str, **changes: str) -> None:
        reply = platform.post(
            "/applications",
            json={
                "institution_id": institution,
                "fields": sample_application(app_id, **changes),
            },
        )
        if reply.status_code != 202:
            raise CLIError(f"submit {app_id}: {reply.text}")

    def stage(api: httpx.Client, key: str) -> str:
        reply = api.get(f"/applications/{key}")
        return str(reply.json().get("stage")) if reply.status_code == 200 else ""

    def both(key: str, wanted: str) -> bool:
        return stage(bank, key) == wanted and stage(platform, key) == wanted

    def issue(app_id: str) -> dict[str, Any]:
        submit(app_id)
        wait(lambda: both(app_id, "approved"), f"{app_id} approved")
        premium = bank.get(f"/applications/{app_id}").json()["premium"]
        bank.post(
            f"/applications/{app_id}/payments",
            json={"amount": premium, "paid_at": "2026-11-23T10:00:00+08:00", "pay_type": "01"},
        ).raise_for_status()
        return dict(
            wait(
                lambda: (a := platform.get(f"/applications/{app_id}").json()).get("verification") and a,
                f"{app_id} verified",
            )
        )

    issued = issue("DEMO-001")
    pdf = platform.get("/applications/DEMO-001/file").content
    (out / issued["file_name"]).write_bytes(pdf)
    v = issued["verification"]
    report += [
        ("ELY101 apply → ELY102 01", "approved by the rules, premium 625.00 (0.5%)"),
        ("payment → ELY102 05, 03", f"issued {issued['guarantee_id']}, valid to {issued['valid_to'][:10]}"),
        (
            "ELY103 fetch, ELY104 verify",
            f"status {v['status']}: signed by {v['certOwner']} (cert {v['certNum']}) at {v['signTime']}",
        ),
    ]
    platform.post(
        "/applications/DEMO-001/claims",
        json={
            "claim_amount": "50000.00",
            "claim_reason": "供应商未按合同约定履约",
            "open_bank": "中国工商银行示范支行",
            "bank_account": "0200001234567890123",
            "contract": "王五",
            "contract_way": "13900139000",
            "contract_cert_code": "110101198501011234",
        },
    ).raise_for_status()
    claims = wait(lambda: bank.get("/claims", params={"status": "open"}).json()["items"], "the claim")
    bank.post(
        f"/claims/{claims[0]['id']}/decision", json={"pay": True, "reason": "见索即付"}
    ).raise_for_status()
    wait(lambda: both("DEMO-001", "paid_out"), "the claim paid")
    report.append(("ELY105 claim → ELY106 00, 01", "claim of 50000.00 paid on first demand"))

    issue("DEMO-002")
    platform.post("/applications/DEMO-002/invalidate", json={"invalid_type": "0"}).raise_for_status()
    wait(lambda: both("DEMO-002", "discharged"), "the invalidation")
    report.append(("ELY107 invalidate → ELY108", "contract fulfilled; the guarantee is cancelled (注销)"))

    issue("DEMO-003")
    platform.post("/applications/DEMO-003/surrender", json={"reason": "项目终止"}).raise_for_status()
    wait(lambda: both("DEMO-003", "surrendered"), "the surrender")
    report.append(("ELY109 surrender → ELY102 08", "surrendered (退保)"))

    submit("DEMO-004")
    wait(lambda: both("DEMO-004", "approved"), "DEMO-004 approved")
    platform.post("/applications/DEMO-004/cancel", json={"reason": "不再需要"}).raise_for_status()
    wait(lambda: both("DEMO-004", "cancelled"), "the cancellation")
    report.append(("ELY109 cancel → ELY102 07", "order cancelled before issue"))

    submit("DEMO-005", guaranteeDate="120")
    wait(lambda: both("DEMO-005", "rejected"), "the refusal")
    reason = platform.get("/applications/DEMO-005").json()["fail_reason"]
    report.append(("ELY101 → ELY102 02", f"refused: {reason}"))
