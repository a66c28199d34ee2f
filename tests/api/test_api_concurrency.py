"""Streams past the thread count: 96 open streams against 32 handler threads all get their
response at once (a stream holds no thread while it waits on the engine), and hanging up on
all of them frees the engine."""
from __future__ import annotations

import threading
import time

import httpx

from api_support import MODEL

STREAMS = 96


def _threads(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


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
    deadline = time.monotonic() + 30
    while (stats := engine.stats()).running + stats.waiting > 0 or stats.blocks_used != baseline:
        assert time.monotonic() < deadline, f"hung-up streams still hold the engine: {stats}"
        time.sleep(0.1)
