"""What the demos share (as :mod:`baohan.cli.sandbox_kit` is the sandboxes'): a transcript of a
protocol's traffic as it crossed the wire, and waiting on a state another thread reaches in its own time."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from baohan.cli.inputs import CLIError
from baohan.web.host import HostedApp


def _decoded(raw: bytes) -> Any:
    """A body as JSON when it is JSON (procurement's, tender's default), else its text as sent."""
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return raw.decode("utf-8", errors="replace")


class Transcript:
    """ASGI middleware keeping every request under ``prefix`` and its answer exactly as they crossed the
    wire, each as ``{"to", "path", "request", "answer"}`` in ``lines``."""

    def __init__(self, inner: ASGIApp, side: str, lines: list[dict[str, Any]], prefix: str) -> None:
        self.inner, self.side, self.lines, self.prefix = inner, side, lines, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.inner(scope, receive, send)
            return
        body, answer = b"", b""

        async def recv() -> Message:
            nonlocal body
            message = await receive()
            body += message.get("body", b"")
            return message

        async def snd(message: Message) -> None:
            nonlocal answer
            if message["type"] == "http.response.body":
                answer += message.get("body", b"")
            await send(message)

        await self.inner(scope, recv, snd)
        self.lines.append(
            {"to": self.side, "path": scope["path"], "request": _decoded(body), "answer": _decoded(answer)}
        )


def recorded(hosted: HostedApp, side: str, lines: list[dict[str, Any]], prefix: str) -> HostedApp:
    """``hosted`` with the traffic under ``prefix`` on its protocol listener kept in ``lines``."""
    return dataclasses.replace(hosted, protocol=Transcript(hosted.protocol, side, lines, prefix))


def wait(probe: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """``probe()``'s first truthy value; CLIError naming ``what`` when none came within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise CLIError(f"the demo stalled waiting for {what}")


def fresh_folder(out: Path) -> None:
    """Make ``out`` and remove the files an earlier run left in it (its subfolders stay)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*"):
        if old.is_file():
            old.unlink()
