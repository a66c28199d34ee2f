"""The HTTP server: uvicorn's event loop in front of the Flask app, in this one process.

One event loop owns every socket, so idle, slow or streaming connections cost no thread; the
Flask views run on a bounded thread pool (server.threads), and streams are pumped by the
event loop (appliance.front.bridge). Limits on heads, bodies, timeouts and connections are
enforced before the app sees a request (appliance.front.limits). On SIGTERM or SIGINT the
server drains (appliance.front.drain) and returns.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import signal
import socket
import threading
from collections.abc import Iterator

import uvicorn

from appliance.app import create_app
from appliance.front.bridge import WsgiBridge
from appliance.front.drain import drain, shut_down
from appliance.front.limits import FrontLimits
from appliance.front.protocol import GuardedH11Protocol
from appliance.services import Appliance

log = logging.getLogger("airlock.server")
BACKLOG = 2048
CLOSE_SECONDS = 5.0   # for uvicorn to close connections once draining is done


class _Front(uvicorn.Server):
    """uvicorn's server without its signal handling: the Server below drains first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Server:
    def __init__(self, appliance: Appliance, host: str | None = None, port: int | None = None) -> None:
        config = appliance.config.server
        self.appliance = appliance
        self.app = create_app(appliance)
        self.limits = FrontLimits.from_config(config)
        self.bridge = WsgiBridge(self.app, appliance, self.limits, threads=config.threads)
        self.host = host or config.host
        self.socket = _listen(self.host, config.port if port is None else port)
        self.front = _Front(uvicorn.Config(
            self.bridge, interface="asgi3", lifespan="off", log_config=None, access_log=False,
            proxy_headers=False, server_header=False, ws="none",
            http=functools.partial(GuardedH11Protocol, head_timeout=self.limits.head_timeout),
            h11_max_incomplete_event_size=self.limits.max_header_bytes,
            limit_concurrency=self.limits.connection_limit, timeout_keep_alive=self.limits.keep_alive,
            timeout_graceful_shutdown=CLOSE_SECONDS, backlog=BACKLOG))
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self, handle_signals: bool = True) -> None:
        """Serve until stop() has drained; then stop the engines and close the ledger (bounded)."""
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        try:
            self.front.run(sockets=[self.socket])
        finally:
            self.bridge.shutdown()
            shut_down(self.appliance)
            log.info("stopped")

    def stop(self) -> None:
        """Begin the graceful shutdown (returns at once; run() returns when it is done)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.appliance.draining = True
        threading.Thread(target=self._drain, name="airlock-drain", daemon=True).start()

    @property
    def active(self) -> int:
        """Requests admitted and not yet answered in full."""
        return self.bridge.active

    def _drain(self) -> None:
        drain(self.appliance, lambda: self.bridge.active)
        self.front.should_exit = True


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound now so that the address (and a port of 0's choice) is known."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.set_inheritable(True)
    return sock


def start_in_thread(appliance: Appliance, host: str = "127.0.0.1", port: int = 0) -> tuple[Server, threading.Thread]:
    """A server on a free loopback port, serving from a background thread (tests, benchmarks)."""
    server = Server(appliance, host=host, port=port)
    thread = threading.Thread(target=server.run, kwargs={"handle_signals": False}, name="airlock-http",
                              daemon=True)
    thread.start()
    return server, thread
