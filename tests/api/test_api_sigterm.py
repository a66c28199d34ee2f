"""`airlock serve` as a real process: SIGTERM stops accepting, drains within the grace period,
aborts what is left, flushes the ledger and exits 0."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _start(data_dir: Path, model_file: Path, grace: float):
    env = {**os.environ, "AIRLOCK_DATA_DIR": str(data_dir), "AIRLOCK_SERVER_SHUTDOWN_GRACE_SECONDS": str(grace),
           "AIRLOCK_MODELS_DEFAULT_MODEL_FILE": str(model_file), "AIRLOCK_SERVER_ADMIN_TOKEN": "adm-test-token-sigterm-0123",
           "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-c", "from appliance.cli import main; raise SystemExit(main())",
                                "serve", "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = None
    for line in process.stdout:
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if match:
            url = match.group(1)
            break
    assert url, "airlock serve did not report its address"
    threading.Thread(target=lambda: process.stdout.read(), daemon=True).start()   # keep the pipe drained
    return process, url


@pytest.fixture
def serve(tmp_path: Path, smollm2_path: Path, seed_models):
    seed_models(tmp_path)
    process, url = _start(tmp_path, smollm2_path, grace=1)
    yield process, url, tmp_path
    if process.poll() is None:
        process.kill()


@pytest.fixture
def serve_with_grace(tmp_path: Path, smollm2_path: Path, seed_models):
    seed_models(tmp_path)
    process, url = _start(tmp_path, smollm2_path, grace=120)
    yield process, url, tmp_path
    if process.poll() is None:
        process.kill()


def test_sigterm_drains_aborts_flushes_and_exits_0(serve) -> None:
    process, url, data_dir = serve
    client = openai.OpenAI(base_url=url + "/v1", api_key="adm-test-token-sigterm-0123", max_retries=0)
    model = client.models.list().data[0].id
    assert client.completions.create(model=model, prompt="Hi", max_tokens=2).usage.completion_tokens >= 1
    stream = client.completions.create(model=model, prompt="Once upon a time", max_tokens=1000, stream=True,
                                       extra_body={"ignore_eos": True})
    next(iter(stream))
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    reasons = [chunk.choices[0].finish_reason for chunk in stream if chunk.choices]
    assert reasons[-1] == "abort"                      # cut at the end of the 1 s grace period
    assert process.wait(timeout=30) == 0
    assert time.monotonic() - started < 20
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/health", timeout=2)
    with sqlite3.connect(data_dir / "airlock.db") as db:
        rows = db.execute("SELECT finish_reason FROM usage_records ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["length", "abort"]   # both requests billed before exit


def test_sigterm_refuses_new_work_and_finishes_what_runs(serve_with_grace) -> None:
    process, url, data_dir = serve_with_grace
    client = openai.OpenAI(base_url=url + "/v1", api_key="adm-test-token-sigterm-0123", max_retries=0, timeout=120)
    model = client.models.list().data[0].id
    http = httpx.Client(base_url=url, headers={"Authorization": "Bearer adm-test-token"}, timeout=30)
    assert http.get("/ready").status_code == 200   # a keep-alive connection, open before the signal
    stream = client.completions.create(model=model, prompt="Once upon a time", max_tokens=12, stream=True,
                                       extra_body={"ignore_eos": True})
    chunks = iter(stream)
    first = next(chunks)
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while (ready := http.get("/ready")).status_code == 200:
        assert time.monotonic() < deadline, "/ready still answered 200 after SIGTERM"
        time.sleep(0.05)
    assert ready.status_code == 503 and ready.json()["draining"] is True
    refused = http.post("/v1/completions", json={"model": model, "prompt": "Hi", "max_tokens": 2})
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert refused.json()["error"]["code"] == "draining"
    fresh = httpx.post(url + "/v1/chat/completions", json={"model": model, "messages": []}, timeout=30)
    assert fresh.status_code == 503 and fresh.headers["Retry-After"]   # before authentication or a model lookup
    rest = list(chunks)
    assert rest[-1].choices[0].finish_reason == "length"   # the in-flight request ran to its end
    assert sum(1 for c in [first, *rest] if c.choices and c.choices[0].text) >= 10
    http.close()
    assert process.wait(timeout=60) == 0
    with sqlite3.connect(data_dir / "airlock.db") as db:
        rows = db.execute("SELECT finish_reason, completion_tokens FROM usage_records ORDER BY id").fetchall()
    assert rows == [("length", 12)]   # billed before exit; the refused requests were never admitted
