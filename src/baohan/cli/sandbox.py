"""``baohan sandbox procurement``: a live counterparty with fresh keys and printed credentials."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from fastapi import APIRouter, Query

from baohan.adapters.documents.letter import LetterTemplateError, check_letter_setup
from baohan.cli import sandbox_kit as kit
from baohan.cli.inputs import CLIError, http_url, one_line_errors
from baohan.cli.roles import check_role
from baohan.cli.sandbox_tender import tender
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.envelope import VERSION
from baohan.protocols.profile import Profile
from baohan.services.procurement.pairing import AppCredentials, issuer_side
from baohan.services.procurement.runtime import open_runtime
from baohan.web.procurement import create_app
from baohan.web.receiver import NoticeRecorder, NoticeTap, WireNotices, receiver_app
from baohan.web.serving import BackgroundServer, free_port

app = typer.Typer(help="Live counterparties for integrators, on loopback.", no_args_is_help=True)
PREFIX = "/zcdservice/v1/lg/ELYApi"
NOTICES = frozenset({"ELY102", "ELY106", "ELY108"})


def _show_received(port: int, token: str | None, transcode: str | None, ident: str | None) -> None:
    if not token:
        raise CLIError("--show-received needs --admin-token (the admin_token the sandbox printed)")
    params = {k: v for k, v in (("transcode", transcode), ("id", ident)) if v}
    try:
        reply = httpx.get(
            f"http://127.0.0.1:{port}{kit.RECEIVED}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise CLIError(f"no sandbox answers on 127.0.0.1:{port}: {exc}") from None
    if reply.status_code == 401:
        raise CLIError(f"the sandbox on 127.0.0.1:{port} refused --admin-token")
    if reply.status_code != 200:
        raise CLIError(f"the server on 127.0.0.1:{port} is not an issuer sandbox (HTTP {reply.status_code})")
    for notice in reply.json():
        typer.echo(json.dumps(notice, ensure_ascii=False))


def _received_routes(notices: WireNotices) -> APIRouter:
    routes = APIRouter(tags=["sandbox"])  # the host puts it behind the operators' tokens

    @routes.get(kit.RECEIVED)
    def received(
        transcode: Annotated[
            str | None, Query(description="Only this transcode (ELY102, ELY106, ELY108).")
        ] = None,
        id: Annotated[
            str | None,
            Query(description="Only notices naming this id (applicationId, guaranteeId, …) or msgcode."),
        ] = None,
    ) -> list[dict[str, Any]]:
        """The notices the sandbox sent: each as it crossed the wire beside its decrypted payload."""
        return notices.listing(transcode, id)

    return routes


@app.command("procurement")
@one_line_errors
def procurement(
    role: kit.Role = "issuer",
    port: kit.Port = 8600,
    admin_port: kit.AdminPort = None,
    db: kit.Db = None,
    counterparty_url: Annotated[
        str | None,
        typer.Option(
            help="Role platform: where your institution serves (ELY101/103/104/105/107/109 go there)."
        ),
    ] = None,
    notify_url: Annotated[
        str | None,
        typer.Option(
            help="Role issuer: your platform's receiver; the sandbox's ELY102/106/108 are sent there "
            "(and still listed by --show-received)."
        ),
    ] = None,
    admin_token: Annotated[
        str | None,
        typer.Option(
            envvar="BAOHAN_ADMIN_TOKEN",
            help="The admin API's bearer token (a fresh one when starting without it); "
            "--show-received needs the running sandbox's.",
        ),
    ] = None,
    show_received: Annotated[
        bool,
        typer.Option(
            "--show-received", help="List the notices a running issuer sandbox on --port sent, and exit."
        ),
    ] = False,
    transcode: Annotated[str | None, typer.Option(help="With --show-received: only this transcode.")] = None,
    ident: Annotated[
        str | None,
        typer.Option("--id", help="With --show-received: only notices naming this id or msgcode."),
    ] = None,
) -> None:
    """Start a procurement issuer or platform with fresh keys and one registered counterparty.

    Prints one JSON line with the URL, credentials and keys once it is ready, then serves until killed.
    """
    admin_port = kit.admin_port_for(port, admin_port)
    if show_received:
        _show_received(admin_port, admin_token, transcode, ident)
        return
    check_role(role)
    if notify_url is not None:
        if role != "issuer":
            raise CLIError(
                "--notify-url is for --role issuer (the platform role sends to --counterparty-url)"
            )
        notify_url = http_url(notify_url, "--notify-url")
    if counterparty_url is not None:
        counterparty_url = http_url(counterparty_url, "--counterparty-url")
    kit.check_token(admin_token)
    if role == "issuer":
        try:  # the sandbox issues letters: a missing font is said now, not at the first ELY101
            check_letter_setup()
        except LetterTemplateError as exc:
            raise CLIError(str(exc)) from None
    with kit.workspace() as workdir:
        _run(
            role,
            port,
            admin_port,
            db,
            counterparty_url,
            notify_url,
            admin_token or secrets.token_urlsafe(24),
            workdir,
        )


def _run(
    role: str,
    port: int,
    admin_port: int,
    db: str | None,
    counterparty_url: str | None,
    notify_url: str | None,
    admin_token: str,
    workdir: Path,
) -> None:
    db_url = kit.database(db, workdir)
    box = kit.key_store()
    runtime = open_runtime(role, db_url, box)
    credentials = AppCredentials.fresh("SBX")
    appid, appkey, appsecret = credentials.appid, credentials.appkey, credentials.appsecret
    profile = Profile()
    extra: dict[str, Any] = {}
    servers: list[BackgroundServer] = []
    extra_routes: APIRouter | None = None
    try:
        if role == "issuer":
            # The sandbox's notices go to a receiver of its own that records them as they cross the wire,
            # and answers them itself or relays them to --notify-url.
            relay_port = free_port()
            relay_url = f"http://127.0.0.1:{relay_port}{PREFIX}"
            side = issuer_side(
                runtime.registry,
                platform_url=relay_url,
                credentials=credentials,
                institution="baohan 沙箱担保有限公司",
                platform_name="Sandbox platform",
                ca_name="baohan Sandbox CA",
                profile=profile,
            )
            own_key, client_key = side.issuer.key, side.platform_key
            channel = side.platform_channel()
            notices = WireNotices(channel)
            receiver = receiver_app(NoticeRecorder(channel), NOTICES)
            servers.append(kit.serve(NoticeTap(receiver, notices, forward_to=notify_url), relay_port))
            extra_routes = _received_routes(notices)
            extra["notify_url"] = notify_url or relay_url
        else:
            own_key, client_key = SM2PrivateKey.generate(), SM2PrivateKey.generate()
            runtime.registry.add_identity("default", own_key)
            peer = runtime.registry.add_counterparty(
                name="Sandbox institution",
                role="institution",
                appid=appid,
                appkey=appkey,
                appsecret=appsecret,
                public_key=client_key.public_key,
                endpoint_url=counterparty_url or f"http://127.0.0.1:9{PREFIX}",
                profile=profile,
            )
            extra["institution_id"] = peer.id
        served = kit.serve(create_app(runtime, admin_token=admin_token, extra=extra_routes), port, admin_port)
        servers.append(served)
        line = {
            "protocol": "procurement",
            "role": role,
            "url": f"http://127.0.0.1:{port}{PREFIX}",
            "appid": appid,
            "appkey": appkey,
            "appsecret": appsecret,
            "version": VERSION,
            "server_public_key": own_key.public_key.to_hex(),
            "client_private_key": client_key.to_hex(),
            "client_public_key": client_key.public_key.to_hex(),
            "profile": {
                k: v
                for k, v in profile.to_dict().items()
                if k in ("sm2_layout", "sm2_prefix", "encoding", "sm4_mode")
            },
            **extra,
            "admin_url": f"{served.admin_url}/admin",
            "admin_token": admin_token,
            "db": db_url,
            "workdir": str(workdir),
        }
        if role == "issuer":
            line["received_url"] = f"{served.admin_url}{kit.RECEIVED}"
        kit.announce_and_wait(line, workdir)
    finally:
        for served in reversed(servers):
            served.stop()
        runtime.stop()


app.command("tender")(tender)
