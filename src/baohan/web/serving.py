"""Serving an app on loopback from a thread: for the sandbox, the demo, the benchmark and the tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` in a daemon thread; ready when constructed."""

    def __init__(
        self, app: ASGIApp, port: int, *, lifespan: Literal["auto", "on", "off"] = "on", timeout: float = 20.0
    ) -> None:
        self.port = port
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
        self._thread = threading.Thread(target=self._server.run, name=f"uvicorn-{port}", daemon=True)
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

    def stop(self) -> None:
        """Finish in-flight requests and stop."""
        self._server.should_exit = True
        self._thread.join(timeout=20)
