"""``baohan sandbox procurement``: a live counterparty with fresh keys and printed credentials."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from fastapi import APIRouter, Query
from starlette.types import ASGIApp

from baohan.adapters.documents.letter import LetterTemplateError, check_letter_setup
from baohan.adapters.keystore import PASSPHRASE_ENV, SecretBox
from baohan.cli.announce import announce_and_wait
from baohan.cli.inputs import CLIError, http_url, one_line_errors
from baohan.cli.sandbox_tender import tender
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.envelope import VERSION
from baohan.protocols.profile import Profile
from baohan.services.procurement.pairing import AppCredentials, issuer_side
from baohan.services.procurement.runtime import open_runtime
from baohan.web.host import HostedApp
from baohan.web.procurement import create_app
from baohan.web.receiver import NoticeRecorder, NoticeTap, WireNotices, receiver_app
from baohan.web.serving import BackgroundServer, free_port

app = typer.Typer(help="Live counterparties for integrators, on loopback.", no_args_is_help=True)
PREFIX = "/zcdservice/v1/lg/ELYApi"
RECEIVED = "/admin/sandbox/received"
NOTICES = frozenset({"ELY102", "ELY106", "ELY108"})


def _serve(web: ASGIApp | HostedApp, port: int, admin_port: int | None = None) -> BackgroundServer:
    try:
        return BackgroundServer(web, port, admin_port=admin_port)
    except RuntimeError as exc:
        raise CLIError(str(exc)) from None


def _show_received(port: int, token: str | None, transcode: str | None, ident: str | None) -> None:
    if not token:
        raise CLIError("--show-received needs --admin-token (the admin_token the sandbox printed)")
    params = {k: v for k, v in (("transcode", transcode), ("id", ident)) if v}
    try:
        reply = httpx.get(
            f"http://127.0.0.1:{port}{RECEIVED}",
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

    @routes.get(RECEIVED)
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
    role: Annotated[str, typer.Option(help="Which role the sandbox plays: issuer or platform.")] = "issuer",
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 for the role's endpoints.", min=1, max=65535)
    ] = 8600,
    admin_port: Annotated[
        int | None,
        typer.Option(
            help="Port on 127.0.0.1 for the admin API and the received listing; --port + 1 by default.",
            min=1,
            max=65535,
        ),
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL; a temporary SQLite file by default.")] = None,
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
    admin_port = admin_port or port + 1
    if admin_port > 65535 or admin_port == port:
        raise CLIError(f"--admin-port {admin_port} must differ from --port and be at most 65535")
    if show_received:
        _show_received(admin_port, admin_token, transcode, ident)
        return
    if role not in ("issuer", "platform"):
        raise CLIError(f"--role must be issuer or platform, not {role!r}")
    if notify_url is not None:
        if role != "issuer":
            raise CLIError(
                "--notify-url is for --role issuer (the platform role sends to --counterparty-url)"
            )
        notify_url = http_url(notify_url, "--notify-url")
    if counterparty_url is not None:
        counterparty_url = http_url(counterparty_url, "--counterparty-url")
    if admin_token is not None and not admin_token.strip():
        raise CLIError("--admin-token (BAOHAN_ADMIN_TOKEN) is empty")
    if role == "issuer":
        try:  # the sandbox issues letters: a missing font is said now, not at the first ELY101
            check_letter_setup()
        except LetterTemplateError as exc:
            raise CLIError(str(exc)) from None
    workdir = Path(tempfile.mkdtemp(prefix="baohan-sandbox-"))
    try:
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
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
    db_url = db or f"sqlite:///{workdir}/sandbox.db"
    # A sandbox is throwaway: with no passphrase set it seals its keys under a random one of its own.
    box = SecretBox(os.environ.get(PASSPHRASE_ENV) or secrets.token_urlsafe(24))
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
            servers.append(_serve(NoticeTap(receiver, notices, forward_to=notify_url), relay_port))
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
        served = _serve(create_app(runtime, admin_token=admin_token, extra=extra_routes), port, admin_port)
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
            line["received_url"] = f"{served.admin_url}{RECEIVED}"
        announce_and_wait(line, workdir)
    finally:
        for served in reversed(servers):
            served.stop()
        runtime.stop()


app.command("tender")(tender)
