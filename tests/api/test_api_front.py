"""The HTTP front cannot be exhausted before authentication: oversized bodies and heads are
refused before they are read, slow and idle sockets time out, and /health keeps answering
under a flood of idle connections and a slow sender. A server of its own (no model needed),
with tight limits so that the timeouts show within a test."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_support import make_config
from appliance.server import start_in_thread
from appliance.services import Appliance

LIMITS = dict(max_body_bytes=1024 * 1024, max_header_bytes=16 * 1024, header_timeout_seconds=1.5,
              body_timeout_seconds=1.5, keep_alive_seconds=1.0, connection_limit=1024)


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = make_config(tmp_path_factory.mktemp("front"), **LIMITS)
    appliance = Appliance.from_config(config, load_default=False)
    server, thread = start_in_thread(appliance)
    yield server.url
    server.stop()
    thread.join(timeout=30)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _response_head(sock: socket.socket, seconds: float = 5.0) -> bytes:
    sock.settimeout(seconds)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_900_mb_body_gets_413_before_it_is_sent(front: str) -> None:
    with _connect(front) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 943718400\r\n\r\n" + b"{" * 65536)   # no key: 413 comes before 401
        head = _response_head(sock)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert time.monotonic() - started < 2


def test_a_chunked_body_over_the_limit_gets_413(front: str) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536   # 2.5 MiB in all, over the 1 MiB limit

    response = httpx.post(front + "/v1/completions", content=chunks(), timeout=10)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_huge_request_head_is_refused(front: str) -> None:
    response = httpx.get(front + "/health", headers={"X-Padding": "a" * 64 * 1024}, timeout=10)
    assert response.status_code in (400, 431)


def test_a_body_that_never_completes_gets_408(front: str) -> None:
    with _connect(front) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        head = _response_head(sock, seconds=10)
    assert head.startswith(b"HTTP/1.1 408"), head


def test_an_idle_socket_is_closed_after_the_head_timeout(front: str) -> None:
    with _connect(front) as sock:
        sock.settimeout(10)
        started = time.monotonic()
        assert sock.recv(1) == b""   # closed by the server, without a request ever sent
    assert 1.0 < time.monotonic() - started < 5


def test_health_answers_under_a_flood_of_idle_sockets_and_a_slow_sender(front: str) -> None:
    idle = [_connect(front) for _ in range(500)]
    stop = threading.Event()

    def slow_sender() -> None:
        with _connect(front) as sock:
            for byte in b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n":
                if stop.is_set():
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:   # the server closed it: the head took too long
                    return
                time.sleep(0.05)

    sender = threading.Thread(target=slow_sender, daemon=True)
    sender.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        response = httpx.get(front + "/health", timeout=5)
        assert response.status_code == 200
        assert time.monotonic() - started < 2
        unauthorized = httpx.post(front + "/v1/completions", json={"model": "m", "prompt": "x"}, timeout=5)
        assert unauthorized.status_code == 401
    finally:
        stop.set()
        for sock in idle:
            sock.close()
        sender.join(timeout=5)


def test_the_server_limits_come_from_the_config(tmp_path: Path) -> None:
    from appliance.config import load_config
    from appliance.front.limits import FrontLimits

    config = load_config(env={"AIRLOCK_DATA_DIR": str(tmp_path), "AIRLOCK_SERVER_MAX_BODY_BYTES": "2048",
                              "AIRLOCK_SERVER_CONNECTION_LIMIT": "64"})
    limits = FrontLimits.from_config(config.server)
    assert (limits.max_body_bytes, limits.connection_limit) == (2048, 64)
    config.server.body_timeout_seconds = 0
    with pytest.raises(ValueError, match="body_timeout"):
        FrontLimits.from_config(config.server)
