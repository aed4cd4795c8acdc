"""``baohan sandbox procurement``: a live counterparty with fresh keys and printed credentials."""

from __future__ import annotations

import json
import secrets
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from fastapi import APIRouter
from starlette.types import ASGIApp

from baohan.adapters.keystore import PASSPHRASE_ENV, SecretBox
from baohan.cli.inputs import CLIError, one_line_errors
from baohan.gm import SM2PrivateKey
from baohan.protocols.procurement.envelope import VERSION
from baohan.protocols.profile import Profile
from baohan.services.procurement.pairing import AppCredentials, issuer_side
from baohan.services.procurement.runtime import open_runtime
from baohan.web.host import HostedApp
from baohan.web.procurement import create_app
from baohan.web.receiver import NoticeRecorder, receiver_app
from baohan.web.serving import BackgroundServer, free_port

app = typer.Typer(help="Live counterparties for integrators, on loopback.", no_args_is_help=True)
PREFIX = "/zcdservice/v1/lg/ELYApi"


def _serve(web: ASGIApp | HostedApp, port: int) -> BackgroundServer:
    try:
        return BackgroundServer(web, port)
    except RuntimeError as exc:
        raise CLIError(str(exc)) from None


def _show_received(port: int) -> None:
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/sandbox/received", timeout=10)
    except httpx.HTTPError as exc:
        raise CLIError(f"no sandbox answers on 127.0.0.1:{port}: {exc}") from None
    if reply.status_code != 200:
        raise CLIError(f"the server on 127.0.0.1:{port} is not an issuer sandbox (HTTP {reply.status_code})")
    for notice in reply.json():
        typer.echo(json.dumps(notice, ensure_ascii=False))


@app.command("procurement")
@one_line_errors
def procurement(
    role: Annotated[str, typer.Option(help="Which role the sandbox plays: issuer or platform.")] = "issuer",
    port: Annotated[
        int, typer.Option(help="Port on 127.0.0.1 for the role's endpoints.", min=1, max=65535)
    ] = 8600,
    db: Annotated[str | None, typer.Option(help="Database URL; a temporary SQLite file by default.")] = None,
    counterparty_url: Annotated[
        str | None,
        typer.Option(
            help="Role platform: where your institution serves (ELY101/103/104/105/107/109 go there)."
        ),
    ] = None,
    show_received: Annotated[
        bool,
        typer.Option(
            "--show-received", help="List the notices a running issuer sandbox on --port received, and exit."
        ),
    ] = False,
) -> None:
    """Start a procurement issuer or platform with fresh keys and one registered counterparty.

    Prints one JSON line with the URL, credentials and keys once it is ready, then serves until killed.
    """
    if show_received:
        _show_received(port)
        return
    if role not in ("issuer", "platform"):
        raise CLIError(f"--role must be issuer or platform, not {role!r}")
    workdir = Path(tempfile.mkdtemp(prefix="baohan-sandbox-"))
    db_url = db or f"sqlite:///{workdir}/sandbox.db"
    import os

    # A sandbox is throwaway: with no passphrase set it seals its keys under a random one of its own.
    box = SecretBox(os.environ.get(PASSPHRASE_ENV) or secrets.token_urlsafe(24))
    runtime = open_runtime(role, db_url, box)
    credentials = AppCredentials.fresh("SBX")
    appid, appkey, appsecret = credentials.appid, credentials.appkey, credentials.appsecret
    profile = Profile()
    extra: dict[str, Any] = {}
    servers: list[BackgroundServer] = []
    admin_token = secrets.token_urlsafe(24)
    extra_routes = APIRouter(tags=["sandbox"])
    if role == "issuer":
        notify_port = free_port()
        notify_url = f"http://127.0.0.1:{notify_port}{PREFIX}"
        side = issuer_side(
            runtime.registry,
            platform_url=notify_url,
            credentials=credentials,
            institution="baohan 沙箱担保有限公司",
            platform_name="Sandbox platform",
            ca_name="baohan Sandbox CA",
            profile=profile,
        )
        own_key, client_key = side.issuer.key, side.platform_key
        recorder = NoticeRecorder(side.platform_channel())
        servers.append(_serve(receiver_app(recorder, frozenset({"ELY102", "ELY106", "ELY108"})), notify_port))

        @extra_routes.get("/sandbox/received")
        def received() -> list[dict[str, Any]]:
            return list(recorder.received)

        extra["notify_url"] = notify_url
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
    served = _serve(create_app(runtime, admin_token=admin_token, extra=extra_routes), port)
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
    }
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    for served in reversed(servers):
        served.stop()
