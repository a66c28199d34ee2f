"""Frontier screen: against the real service (a sweep recorded in its ledger, an SLO set through
the admin API, real requests for the live point), and as a snapshot from a frozen reply."""
from __future__ import annotations

import re

import sys
from pathlib import Path

import pytest
from openai import OpenAI

from tui_helpers import RECORDING, require, text_of, until
from tui_tour import settle
from tui.app import create_app
from tui.recorded import ReplayClient
from tui.screens.frontier import FrontierScreen
from tui.widgets.frontier.frontier_chart import FrontierChart

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "frontier"))
from sweep_fixture import recorded_points  # noqa: E402

pytestmark = pytest.mark.anyio
MODEL = "smollm2-135m-instruct"


def _save_sweep(service) -> None:
    from appliance.ledger import database
    from appliance.ledger.bench_runs import SweepRecord, save_sweep

    engine = database.make_engine(f"sqlite:///{service.data_dir / 'airlock.db'}")
    save_sweep(engine, SweepRecord(model=MODEL, quantization="fp32", workload="chat mix", currency="USD",
                                   points=recorded_points()))
    engine.dispose()


async def test_frontier_shows_the_sweep_the_choice_and_the_live_point(console, service) -> None:
    require(service, "GET", "/admin/frontier")
    _save_sweep(service)
    with service.http() as http:
        assert http.put("/admin/slo", json={"ttft_p95_seconds": 2.0, "itl_p95_seconds": 0.15}).status_code == 200
        key = http.post("/admin/keys", json={"name": "frontier", "tenant": "t"}).json()
    client = OpenAI(base_url=f"{service.url}/v1", api_key=key.get("secret") or key.get("key"))
    for i in range(2):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"Say {i}"}], max_tokens=8)
    try:
        async with console.run_test(size=(120, 40)) as pilot:
            await pilot.press("f7")
            await until(pilot, lambda: isinstance(console.screen, FrontierScreen))
            live = console.screen.query_one("#slo-live")
            # the session's service served other tests' requests too: at least these two
            await until(pilot, lambda: re.search(r"of ([2-9]|\d\d+) requests", text_of(live)) is not None,
                        what="the live SLO figures")
            assert "TTFT p95 2000 ms, ITL p95 150 ms" in text_of(live)
            choice = text_of(console.screen.query_one("#slo-choice"))
            assert "chosen: seqs 32, budget 512, chunk 128" in choice
            assert console.screen.query_one(FrontierChart).plt is not None
    finally:
        with service.http() as http:
            http.put("/admin/slo", json={"ttft_p95_seconds": None, "itl_p95_seconds": None})


def frozen_reply() -> dict:
    points = [p.as_dict() for p in recorded_points()]
    live = {"ttft_p95_target_s": 2.0, "itl_p95_target_s": 0.15, "window_s": 300.0, "requests": 40, "rejected": 3,
            "attainment": 0.925, "output_tokens_per_s": 172.0, "itl_p95_s": 0.095, "token_limit": 24,
            "batching": {"max_num_seqs": 16, "max_num_batched_tokens": 512, "max_prefill_chunk": 128},
            "seq_limit": 24}
    return {"model": MODEL, "sweep": {"run_id": "r1", "created_at": "2026-11-30T10:00:00+00:00", "model": MODEL,
                                      "quantization": "none", "workload": "chat mix", "currency": "USD",
                                      "setup": {}, "points": points},
            "chosen": points[3], "explanation": ["5 of 7 points meet the SLO; the fastest of them is chosen."],
            "live": live}


def test_frontier_snapshot(snap_compare) -> None:
    client = ReplayClient(RECORDING)
    client.replies["GET /admin/frontier"] = {"status": 200, "data": frozen_reply(), "error": None}
    app = create_app(client, poll_seconds=None)

    async def open_frontier(pilot) -> None:
        await pilot.press("f7")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=open_frontier)
