"""/health polled all through the soak, and a short flood of idle connections.

The poller sends GET /health every `interval` seconds on a fresh connection (as a load
balancer's probe would) and records each answer's latency, failures included. The flood opens
`sockets` TCP connections that send nothing and holds them for `seconds` (shorter than the
server's head timeout, so the front has to carry them, not time them out).
"""
from __future__ import annotations

import socket
import threading
import time

import httpx

from appliance.bench.soak.tally import HealthPoll, Tally

POLL_TIMEOUT_S = 10.0


class HealthPoller:
    def __init__(self, url: str, tally: Tally, interval: float = 0.1) -> None:
        self.url, self.tally, self.interval = url, tally, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-health", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(POLL_TIMEOUT_S + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tally.add_health(self._poll())
            self._stop.wait(self.interval)

    def _poll(self) -> HealthPoll:
        at = time.monotonic()
        try:
            ok = httpx.get(self.url + "/health", timeout=POLL_TIMEOUT_S).status_code == 200
        except httpx.HTTPError:
            ok = False
        return HealthPoll(at, time.monotonic() - at, ok)


def flood(port: int, sockets: int, seconds: float) -> tuple[float, float, int]:
    """Hold `sockets` idle connections for `seconds`; (start, end, connections opened)."""
    opened: list[socket.socket] = []
    start = time.monotonic()
    try:
        for _ in range(sockets):
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(max(0.0, seconds - (time.monotonic() - start)))
    except OSError:
        pass   # the server refusing part of the flood is allowed; /health must still answer
    finally:
        for sock in opened:
            sock.close()
    return start, time.monotonic(), len(opened)
