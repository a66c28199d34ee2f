"""Past the thread count: 96 open streams against 32 handler threads all get their response at
once (a stream holds no thread while it waits on the engine), non-streamed requests likewise,
and hanging up on all of them frees the engine."""
from __future__ import annotations

import json
import socket
import threading
import time

import httpx

from api_support import MODEL

STREAMS = 96


def _threads(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def _wait_until_idle(engine, baseline_blocks: int) -> None:
    deadline = time.monotonic() + 30
    while (stats := engine.stats()).running + stats.waiting > 0 or stats.blocks_used != baseline_blocks:
        assert time.monotonic() < deadline, f"clients that hung up still hold the engine: {stats}"
        time.sleep(0.1)


def test_more_open_streams_than_threads(served, engine) -> None:
    assert served.appliance.config.server.threads < STREAMS
    baseline = engine.stats().blocks_used
    all_open = threading.Barrier(STREAMS + 1)
    opened: list[int] = []
    body = {"model": MODEL, "prompt": "Once upon a time", "max_tokens": 1500, "stream": True, "ignore_eos": True}

    def stream(http: httpx.Client) -> None:
        with http.stream("POST", "/v1/completions", json=body) as response:
            lines = response.iter_lines()
            if response.status_code == 200 and next(lines) == ": airlock":
                opened.append(1)
            all_open.wait(timeout=120)
            all_open.wait(timeout=120)   # hold the stream open until the main thread has looked

    clients = [httpx.Client(base_url=served.url, headers=served.admin(), timeout=120) for _ in range(STREAMS)]
    workers = [threading.Thread(target=stream, args=(c,), daemon=True) for c in clients]
    for worker in workers:
        worker.start()
    try:
        all_open.wait(timeout=120)   # with a thread per stream this would wait for streams to end
        assert len(opened) == STREAMS
        assert engine.stats().running + engine.stats().waiting == STREAMS
        threads = served.appliance.config.server.threads
        assert _threads("airlock-http") + _threads("airlock-stream") <= threads + 8
        all_open.wait(timeout=120)
    finally:
        for worker in workers:
            worker.join(timeout=60)
        for client in clients:
            client.close()
    _wait_until_idle(engine, baseline)


def test_non_streamed_requests_past_the_thread_count_hold_no_thread(served, engine) -> None:
    """A non-streamed generation holds no handler thread either (appliance/api/deferred.py): more
    of them than threads run at once, and clients that hang up free the engine."""
    count = served.appliance.config.server.threads + 16
    baseline = engine.stats().blocks_used
    body = json.dumps({"model": MODEL, "prompt": "Once upon a time", "max_tokens": 1500, "ignore_eos": True})
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: {served.admin()['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n")
    port = int(served.url.rsplit(":", 1)[1])
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    try:
        for s in sockets:
            s.sendall((head + body).encode())
        deadline = time.monotonic() + 120
        while (stats := engine.stats()).running + stats.waiting < count:
            assert time.monotonic() < deadline, f"only {stats.running + stats.waiting} of {count} admitted"
            time.sleep(0.05)
        assert _threads("airlock-http") + _threads("airlock-stream") <= served.appliance.config.server.threads + 8
    finally:
        for s in sockets:
            s.close()
    _wait_until_idle(engine, baseline)
