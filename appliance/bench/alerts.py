"""Alert-evaluation benchmark: engine throughput at c32 with the rules off and on, in the same
run, rounds alternated (off/on, then on/off) so drift on a shared machine falls on both sides.

Assumptions:
- "On" evaluates one rule of every kind at `interval` (default 0.5 s, ten times the service's
  default of 5 s), so any cost is larger here than in service.
- The ledger holds `rows` usage rows and `keys` budgeted keys, so the budget, cost and
  utilisation rules run their real queries.
- Throughput alone is noisy on two shared cores; the evaluator thread's CPU time per pass,
  divided by the interval, is the steadier figure for its share of one core.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from datetime import UTC, datetime, timedelta

from appliance.alerts.evaluator import AlertEvaluator
from appliance.alerts.rules import KINDS
from appliance.auth.keys import KeySpec
from appliance.config import AlertsSettings, Config
from appliance.ledger.record import UsageRecord
from appliance.services import Appliance
from engine.bench.common import Machine, Report, ratio
from engine.sampling_params import SamplingParams

PROMPT = "Write a short story about a lighthouse keeper."
EVERY_KIND = [{"name": f"bench-{kind}", "kind": kind, "threshold": 0.5, "window_seconds": 300} for kind in KINDS]


@pydantic_dataclass(config=ConfigDict(strict=True, allow_inf_nan=False))
class AlertBenchConfig:
    """The run's settings; a bad one is a ValueError (pydantic's) naming it."""
    streams: int = Field(32, ge=1)
    max_tokens: int = Field(64, ge=1)
    rounds: int = Field(4, ge=1)
    interval: float = Field(0.5, gt=0)
    keys: int = Field(20, ge=0)
    rows: int = Field(20000, ge=0)
    model_file: str = ""
    quantization: str = "auto"


@dataclass(slots=True)
class AlertReport(Report):
    result: dict                 # the figures, as _measure returns them

    def as_dict(self) -> dict:
        return self.result

    def table_title(self) -> list[str]:
        result, c = self.result, self.result["config"]
        return [f"Alert evaluation at c{c['streams']} x {c['max_tokens']} tokens, {result['rules']} rules every "
                f"{c['interval']} s, {c['rounds']} rounds each side; {Machine(**result['machine']).line()}"]

    def table_rows(self) -> list[str]:
        result = self.result
        return [f"{'rules':8}{'tokens/s (median)':>20}   rounds",
                f"{'off':8}{result['tokens_per_s_off']:>20.1f}   " + " ".join(f"{v:.1f}" for v in result["rounds_off"]),
                f"{'on':8}{result['tokens_per_s_on']:>20.1f}   " + " ".join(f"{v:.1f}" for v in result["rounds_on"])]

    def table_notes(self) -> list[str]:
        result, c = self.result, self.result["config"]
        return [f"ratio on/off: {result['ratio_on_off']:.4f}",
                f"evaluator: {result['evaluations']} passes, {result['ms_per_evaluation']:.2f} ms CPU each "
                f"({result['wall_ms_per_evaluation']:.1f} ms wall): "
                f"{result['core_share_at_interval']:.3%} of a core at {c['interval']} s, "
                f"{result['core_share_at_5s']:.3%} at the default 5 s"]


def run(config: AlertBenchConfig) -> AlertReport:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-alerts-") as data_dir:
        settings = Config(data_dir=data_dir)
        settings.alerts.enabled = False          # the benchmark starts and stops its own evaluator
        settings.models.default_quantization = config.quantization
        if config.model_file:
            settings.models.default_model_file = config.model_file
        appliance = Appliance.from_config(settings)
        try:
            _seed(appliance, config)
            return AlertReport(_measure(appliance, config))
        finally:
            appliance.close()


def _seed(appliance: Appliance, config: AlertBenchConfig) -> None:
    keys = [appliance.keys.create(KeySpec(f"bench-{i}", token_budget=10**9))[0] for i in range(config.keys)]
    start = datetime.now(UTC) - timedelta(days=7)
    for i in range(config.rows):
        key = keys[i % len(keys)] if keys else None
        appliance.ledger.record(UsageRecord(
            request_id=f"seed-{i}", created_at=start + timedelta(seconds=30 * i), key_id=key.id if key else None,
            key_name=key.spec.name if key else None, tenant="bench", model="bench", quantization="fp32",
            endpoint="chat.completions", prompt_tokens=200, cached_tokens=50, completion_tokens=60,
            finish_reason="stop", queue_seconds=0.01, ttft_seconds=0.2, duration_seconds=2.0, compute_seconds=0.5))
    appliance.ledger.flush(timeout=120)


def _measure(appliance: Appliance, config: AlertBenchConfig) -> dict:
    engine = appliance.models.get(appliance.model_names()[0])
    prompt = engine.tokenizer(PROMPT)["input_ids"]
    params = SamplingParams(max_tokens=config.max_tokens, temperature=0.0, ignore_eos=True)
    stream = lambda: sum(len(d.token_ids) for d in engine.submit(prompt, params))  # noqa: E731
    _throughput(stream, 4)   # warm up
    off, on, passes, seconds, cpu = [], [], 0, 0.0, 0.0
    for i in range(config.rounds):
        for rules_on in ((False, True) if i % 2 == 0 else (True, False)):
            if not rules_on:
                off.append(_throughput(stream, config.streams))
                continue
            evaluator = AlertEvaluator(appliance, AlertsSettings(rules=EVERY_KIND), interval=config.interval).start()
            on.append(_throughput(stream, config.streams))
            evaluator.close()
            passes, seconds = passes + evaluator.evaluations, seconds + evaluator.seconds_spent
            cpu += evaluator.cpu_seconds_spent
    per_pass = cpu / passes if passes else 0.0
    machine = Machine.now()
    return {"date": machine.date, "machine": asdict(machine), "config": asdict(config),
            "rules": len(EVERY_KIND), "tokens_per_s_off": statistics.median(off),
            "tokens_per_s_on": statistics.median(on), "ratio_on_off": ratio(statistics.median(on), statistics.median(off)),
            "rounds_off": off, "rounds_on": on, "evaluations": passes, "ms_per_evaluation": per_pass * 1000,
            "wall_ms_per_evaluation": seconds / passes * 1000 if passes else 0.0,
            "core_share_at_interval": per_pass / config.interval, "core_share_at_5s": per_pass / 5.0}


def _throughput(stream, streams: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        tokens = sum(pool.map(lambda _: stream(), range(streams)))
    return tokens / (time.perf_counter() - started)
