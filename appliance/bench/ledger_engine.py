"""Engine step times with the ledger on versus off: a real Engine on SmolLM2, a short chat
workload, each finished request recorded (on) or dropped (off); modes interleaved per round."""
from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from engine.bench.airlock import engine_config
from engine.bench.common import ratio
from engine.bench.workload import chat_prompt
from engine.llm_engine import Engine
from engine.loader import load_model
from engine.sampling_params import SamplingParams

from appliance.bench.ledger import BenchSettings, open_ledger, percentile
from appliance.ledger.ledger import Ledger
from appliance.ledger.record import UsageRecord


class TimedEngine(Engine):
    """An Engine that keeps the wall time of each step (forward, sampling and bookkeeping)."""
    step_times: list[float]

    def _step(self, batch) -> None:
        start = time.perf_counter()
        super()._step(batch)
        self.step_times.append(time.perf_counter() - start)


def bench_engine(directory: Path, settings: BenchSettings) -> dict:
    model = load_model(settings.model_path, precision=settings.quantization, name="smollm2-135m-instruct")
    prompts = [chat_prompt(model.tokenizer, i) for i in range(settings.requests)]
    TimedEngine.step_times = []
    engine = TimedEngine(model, engine_config(model, prompts, settings.max_tokens))
    ledger = open_ledger(directory, "engine.db")
    try:
        run_workload(engine, prompts[:2], settings, None)                 # warm-up
        times: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(settings.rounds):
            for mode in ("off", "on"):
                engine.step_times = []
                run_workload(engine, prompts, settings, ledger if mode == "on" else None)
                times[mode] += engine.step_times
        ledger.flush()
        rows = ledger.backlog() == 0 and len(ledger.export_json())
    finally:
        engine.shutdown()
        ledger.close()
    figures = {mode: {"steps": len(t), "p50_ms": percentile(t, 50) * 1000, "p90_ms": percentile(t, 90) * 1000,
                      "rows": rows if mode == "on" else 0} for mode, t in times.items()}
    return {"workload": f"SmolLM2 {settings.quantization}, {settings.requests} requests x {settings.max_tokens} "
                        f"tokens, {settings.concurrency} at a time, {settings.rounds} rounds",
            **figures, "ratio_p50": ratio(figures["on"]["p50_ms"], figures["off"]["p50_ms"])}


def run_workload(engine: Engine, prompts: list[list[int]], settings: BenchSettings, ledger: Ledger | None) -> None:
    params = SamplingParams(max_tokens=settings.max_tokens, temperature=0.0, ignore_eos=True)
    counter = itertools.count()

    def client() -> None:
        while (i := next(counter)) < len(prompts):
            stream = engine.submit(prompts[i], params)
            reason = [d.finish_reason for d in stream if d.finish_reason][-1]
            if ledger is not None:
                ledger.record(UsageRecord.from_metrics(
                    stream.metrics, key_id="key_bench", key_name="bench", tenant="bench",
                    model=engine.model.name, quantization=engine.model.precision,
                    endpoint="chat.completions", finish_reason=reason))

    threads = [threading.Thread(target=client) for _ in range(min(settings.concurrency, len(prompts)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
