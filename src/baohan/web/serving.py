"""Listening sockets, and serving an app on loopback from a thread (the sandbox, the demo, the benchmark
and the tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from baohan.web.host import HostedApp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``, as uvicorn binds one, for the server's processes to share;
    OSError (the port is in use, the address is not ours) as the system says it."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` in a daemon thread; ready when constructed.

    A :class:`HostedApp` is served on two listeners: its protocol side on ``port``, its admin side on
    ``admin_port`` (a free one when not given).
    """

    def __init__(
        self,
        app: ASGIApp | HostedApp,
        port: int,
        *,
        admin_port: int | None = None,
        lifespan: Literal["auto", "on", "off"] = "on",
        timeout: float = 20.0,
    ) -> None:
        self.port = port
        self.admin_port: int | None = None
        if isinstance(app, HostedApp):
            self.admin_port = admin_port or free_port()
            app = app.on(self.admin_port)
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan=lifespan,
                http="httptools",
                loop="uvloop",
            )
        )
        ports = [port] if self.admin_port is None else [port, self.admin_port]
        try:
            sockets = [listen("127.0.0.1", p) for p in ports]
        except OSError as exc:
            raise RuntimeError(f"could not serve on 127.0.0.1:{ports} (is the port free?): {exc}") from None
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name=f"uvicorn-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"could not serve on 127.0.0.1:{port} (is the port free?)")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:ADMIN_PORT``: where the admin API listens (a plain app's own URL otherwise)."""
        return f"http://127.0.0.1:{self.admin_port or self.port}"

    def stop(self) -> None:
        """Finish in-flight requests and stop."""
        self._server.should_exit = True
        self._thread.join(timeout=20)
