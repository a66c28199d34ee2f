"""Usage rows from a real Engine's RequestMetrics (SmolLM2): what the client received is what
the ledger holds, aborted requests included."""
from __future__ import annotations

from pathlib import Path

import pytest

from appliance.ledger import UsageRecord
from engine.bench.airlock import engine_config
from engine.bench.workload import chat_prompt
from engine.llm_engine import Engine
from engine.loader import LoadedModel, load_model
from engine.sampling_params import SamplingParams


@pytest.fixture(scope="module")
def smollm2(smollm2_path: Path) -> LoadedModel:
    return load_model(smollm2_path, name="smollm2-135m-instruct")


def test_rows_from_engine_metrics_match_what_clients_received(smollm2: LoadedModel, ledger) -> None:
    prompts = [chat_prompt(smollm2.tokenizer, i) for i in range(3)]
    engine = Engine(smollm2, engine_config(smollm2, prompts, 300))
    try:
        limits = [12, 12, 300]                      # the last one is aborted long before its limit
        streams = [engine.submit(p, SamplingParams(max_tokens=n, temperature=0.0, ignore_eos=True))
                   for p, n in zip(prompts, limits)]
        received = {}
        for i, stream in reversed(list(enumerate(streams))):
            tokens, reason = 0, None
            for delta in stream:
                tokens += len(delta.token_ids)
                reason = delta.finish_reason or reason
                if i == 2 and tokens >= 3 and reason is None:
                    stream.abort()                  # the client went away
            received[stream.request_id] = (tokens, reason)
            ledger.record(UsageRecord.from_metrics(
                stream.metrics, key_id="key_a", key_name="alice", tenant="bank", model=smollm2.name,
                quantization=smollm2.precision, endpoint="chat.completions", finish_reason=reason))
    finally:
        engine.shutdown()
    rows = {r["request_id"]: r for r in ledger.export_json()}
    assert {rid: (r["completion_tokens"], r["finish_reason"]) for rid, r in rows.items()} == received
    assert [received[s.request_id][1] for s in streams] == ["length", "length", "abort"]
    assert received[streams[2].request_id][0] < 300
    assert [rows[s.request_id]["prompt_tokens"] for s in streams] == [len(p) for p in prompts]
    for row in rows.values():
        assert 0 < row["compute_seconds"] <= row["duration_seconds"]
        assert row["energy_wh"] == pytest.approx(row["compute_seconds"] * 360 / 3600)   # 360 W source
        assert row["ttft_seconds"] is not None and row["queue_seconds"] <= row["ttft_seconds"]
    assert ledger.tokens_used("key_a") == sum(len(p) for p in prompts) + sum(t for t, _ in received.values())
