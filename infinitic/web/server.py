"""Runs the dashboard with uvicorn: on a thread of its own (inside a worker), or in the
foreground (`infinitic dashboard`)."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("infinitic.web")


class DashboardServer:
    """`start()` returns once the socket listens (`port` is then the bound one: port 0 picks a
    free port); `close()` stops it."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 8080) -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port = port

    def start(self, timeout: float = 10.0) -> DashboardServer:
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._server.serve())
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                failure.append(exc)

        self._thread = threading.Thread(target=run, name="infinitic-dashboard", daemon=True)
        self._thread.start()
        while not self._server.started:
            if failure or not self._thread.is_alive():
                raise OSError(
                    f"the dashboard cannot listen on {self.host}:{self.port}: "
                    f"{failure[0] if failure else 'uvicorn stopped'}"
                )
            self._thread.join(0.01)
            timeout -= 0.01
            if timeout <= 0:
                raise TimeoutError(f"the dashboard did not start on {self.host}:{self.port}")
        sockets: Any = self._server.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])
        log.info("dashboard on http://%s:%d/", self.host, self.port)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
