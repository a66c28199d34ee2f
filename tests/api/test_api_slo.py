"""SLO and batching at run time through the admin API, live attainment in /admin/slo and
/metrics, 503 with Retry-After when the queue would break the TTFT target, and /admin/frontier."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import openai
import pytest

from api_support import MODEL
from prometheus_samples import sample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "frontier"))
from sweep_fixture import recorded_points  # noqa: E402

NO_SLO = {"ttft_p95_seconds": None, "itl_p95_seconds": None}


@pytest.fixture(scope="module")
def admin(served):
    client = served.http()
    client.headers.update(served.admin())
    yield client
    client.put("/admin/slo", json=NO_SLO)
    client.put("/admin/scheduler", json={"max_num_seqs": 128, "max_num_batched_tokens": 512, "max_prefill_chunk": 0})


@pytest.mark.parametrize("path, body, param", [
    ("/admin/slo", {"itl_p95_seconds": -0.1}, "itl_p95_seconds"), ("/admin/slo", {"ttft_p95_seconds": 0}, "ttft_p95_seconds"),
    ("/admin/slo", {"itl_p95_seconds": "150ms"}, "itl_p95_seconds"), ("/admin/slo", {"itl": 0.1}, "itl"),
    ("/admin/scheduler", {"max_num_seqs": 600}, "max_num_batched_tokens"),
    ("/admin/scheduler", {"max_prefill_chunk": -1}, "max_prefill_chunk")])
def test_bad_settings_are_400_naming_the_setting(admin, path: str, body: dict, param: str) -> None:
    response = admin.put(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_slo_attainment_is_live_in_the_admin_api_and_metrics(served, admin, engine) -> None:
    assert admin.put("/admin/slo", json={"ttft_p95_seconds": 30.0, "itl_p95_seconds": 5.0}).status_code == 200
    before = admin.get("/admin/slo").json()[MODEL]["requests"]
    client = served.client()
    for i in range(2):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"Hi {i}"}], max_tokens=4)
    view = admin.get("/admin/slo").json()[MODEL]   # counted before each response ended: no wait
    assert view["requests"] == before + 2 and view["attainment"] == 1.0
    assert (view["ttft_p95_target_s"], view["itl_p95_target_s"]) == (30.0, 5.0)
    metrics = admin.get("/metrics").text
    assert sample(metrics, "airlock:slo_attainment_ratio", model_name=MODEL) == 1.0
    assert sample(metrics, "airlock:slo_itl_p95_target_seconds", model_name=MODEL) == 5.0


def test_scheduler_settings_apply_at_run_time(admin, engine) -> None:
    reply = admin.put("/admin/scheduler", json={"model": MODEL, "max_num_seqs": 4, "max_prefill_chunk": 32})
    assert reply.status_code == 200 and reply.json()[MODEL]["batching"]["max_num_seqs"] == 4
    assert (engine.config.max_num_seqs, engine.config.max_prefill_chunk) == (4, 32)
    admin.put("/admin/scheduler", json={"max_num_seqs": 128, "max_prefill_chunk": 0})


def test_a_queue_that_would_break_the_ttft_target_answers_503_with_retry_after(served, admin, engine) -> None:
    client = served.client()
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "warm"}], max_tokens=4)
    admin.put("/admin/scheduler", json={"max_num_seqs": 1})
    admin.put("/admin/slo", json={"ttft_p95_seconds": 0.001})
    long = threading.Thread(target=lambda: client.completions.create(
        model=MODEL, prompt="Count", max_tokens=200, extra_body={"ignore_eos": True}))
    try:
        long.start()
        deadline = time.monotonic() + 60
        while engine.stats().running == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(openai.APIStatusError) as exc:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}], max_tokens=4)
        assert exc.value.status_code == 503 and int(exc.value.response.headers["Retry-After"]) >= 1
        error = exc.value.response.json()["error"]
        assert error["code"] == "queue_full" and "would break the TTFT target of 0.0 s" in error["message"]
        assert admin.get("/admin/slo").json()[MODEL]["rejected"] >= 1
    finally:
        admin.put("/admin/slo", json=NO_SLO)
        admin.put("/admin/scheduler", json={"max_num_seqs": 128})
        long.join()
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "still here"}], max_tokens=2)


def test_frontier_gives_the_latest_sweep_and_the_point_the_slo_picks(served, admin) -> None:
    from appliance.ledger.bench_runs import SweepRecord, save_sweep

    save_sweep(served.appliance.ledger.engine, SweepRecord(model=MODEL, quantization="fp32", workload="chat mix",
                                                           currency="USD", points=recorded_points()))
    assert admin.get("/admin/frontier").json()["chosen"] is None                 # no SLO set: nothing chosen
    admin.put("/admin/slo", json={"ttft_p95_seconds": 2.0, "itl_p95_seconds": 0.15})
    try:
        data = admin.get("/admin/frontier", params={"model": MODEL}).json()
    finally:
        admin.put("/admin/slo", json=NO_SLO)
    assert len(data["sweep"]["points"]) == 7
    assert (data["chosen"]["concurrency"], data["chosen"]["max_num_seqs"]) == (16, 32)
    assert data["live"]["batching"]["max_num_seqs"] == 128
    assert admin.get("/admin/frontier", params={"model": "nope"}).status_code == 404


def test_tune_applies_the_choice_to_the_running_server(served, admin, engine, tmp_path: Path) -> None:
    from appliance.cli import main
    from appliance.ledger.bench_runs import SweepRecord

    sweep = tmp_path / "sweep.json"
    sweep.write_text(SweepRecord(model=MODEL, quantization="fp32", workload="w", currency="USD",
                                 points=recorded_points()).to_json())
    config = tmp_path / "airlock.toml"
    config.write_text(f'[server]\nadmin_token = "{served.appliance.admin_token}"\n')
    try:
        assert main(["tune", "--slo-ttft-p95", "2s", "--slo-itl-p95", "150ms", "--sweep", str(sweep),
                     "--apply", served.url, "--config", str(config)]) == 0
        view = admin.get("/admin/slo").json()[MODEL]
        assert view["batching"] == {"max_num_seqs": 16, "max_num_batched_tokens": 512, "max_prefill_chunk": 128}
        assert (view["ttft_p95_target_s"], view["itl_p95_target_s"]) == (2.0, 0.15)
        assert "[scheduler]" not in config.read_text()                     # applied, not written
    finally:
        admin.put("/admin/slo", json=NO_SLO)
        admin.put("/admin/scheduler", json={"max_num_seqs": 128, "max_prefill_chunk": 0})
