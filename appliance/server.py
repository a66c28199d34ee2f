"""The WSGI server: waitress with threads in this one process, and a graceful SIGTERM.

On SIGTERM (or SIGINT): stop accepting connections, let in-flight requests finish for up to
server.shutdown_grace_seconds, abort what is still running, flush the ledger, return.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

from appliance.app import create_app
from appliance.services import Appliance

log = logging.getLogger("airlock.server")


class Server:
    def __init__(self, appliance: Appliance, host: str | None = None, port: int | None = None) -> None:
        config = appliance.config.server
        self.appliance = appliance
        self.app = create_app(appliance)
        # channel_request_lookahead keeps a busy channel readable, so a client that hangs up
        # mid-stream is noticed at once and its engine request aborted.
        self.wsgi: Any = create_server(self.app, host=host or config.host, port=config.port if port is None else port,
                                       threads=config.threads, channel_request_lookahead=1, ident="airlock",
                                       connection_limit=max(100, config.threads * 4), backlog=2048)
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(self.wsgi.effective_port)

    @property
    def url(self) -> str:
        return f"http://{self.wsgi.effective_host}:{self.port}"

    def run(self, handle_signals: bool = True) -> None:
        """Serve until stop(); closes the appliance before returning."""
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        try:
            self.wsgi.run()
        finally:
            self.wsgi.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
            self.appliance.close()
            log.info("stopped")

    def stop(self) -> None:
        """Begin the graceful shutdown (returns at once; run() returns when it is done)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.appliance.draining = True
        self.wsgi.trigger.pull_trigger(self._stop_accepting)
        threading.Thread(target=self._drain, name="airlock-drain", daemon=True).start()

    def _stop_accepting(self) -> None:
        self.wsgi.accepting = False
        wasyncore.dispatcher.close(self.wsgi)   # the listening socket only; channels keep serving

    def _drain(self) -> None:
        grace = self.appliance.config.server.shutdown_grace_seconds
        if not self._wait_idle(grace):
            log.warning("requests still running after %.1f s; aborting them", grace)
            self.appliance.models.shutdown()   # aborts running requests; their streams end
            self._wait_idle(5.0)
        ledger = self.appliance.ledger
        if ledger is not None:
            ledger.flush()
        self.wsgi.task_dispatcher.shutdown(cancel_pending=True, timeout=5)   # no task may pull the trigger now
        self.wsgi.trigger.pull_trigger(self._close_all)

    def _wait_idle(self, seconds: float) -> bool:
        dispatcher = self.wsgi.task_dispatcher
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if dispatcher.active_count == 0 and not dispatcher.queue:
                return True
            time.sleep(0.05)
        return False

    def _close_all(self) -> None:
        for channel in list(self.wsgi._map.values()):
            channel.close()


def start_in_thread(appliance: Appliance, host: str = "127.0.0.1", port: int = 0) -> tuple[Server, threading.Thread]:
    """A server on a free loopback port, serving from a background thread (tests, benchmarks)."""
    server = Server(appliance, host=host, port=port)
    thread = threading.Thread(target=server.run, kwargs={"handle_signals": False}, name="airlock-http",
                              daemon=True)
    thread.start()
    return server, thread
