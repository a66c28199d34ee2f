"""One benchmark run: load the model once, run the engine and the baselines on the same prompts."""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.bench.airlock import kv_dtype_for, run_airlock
from engine.bench.baselines import BASELINES
from engine.bench.common import Machine
from engine.short_thread import in_short_thread
from engine.bench.report import BenchReport, SystemResult
from engine.bench.workload import SCENARIOS, Scenario, build_prompts
from engine.loader import load_hf, wrap
from engine.precision import PRECISIONS, compute_and_weights, default_precision

Progress = Callable[[str], None]


@dataclass(slots=True)
class BenchOptions:
    model: Path
    scenario: str = "c32"
    precision: str | None = None               # the engine's; None: the device's default (fp32 on CPU)
    quick: bool = False
    device: str = "cpu"
    baselines: tuple[str, ...] = tuple(BASELINES)
    repeats: int = 1                           # engine runs per precision, alternated; the median is kept

    def __post_init__(self) -> None:
        self.model = Path(self.model)
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose from {', '.join(SCENARIOS)}")
        base = default_precision(torch.device(self.device))
        self.precision = self.precision or base
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.compute_dtype != compute_and_weights(base, torch.device(self.device))[0]:
            raise ValueError(f"{self.precision} computes in another dtype than {base}, the baselines' precision "
                             f"on {self.device}; the benchmark compares engines over one set of weights")
        unknown = [b for b in self.baselines if b not in BASELINES]
        if unknown:
            raise ValueError(f"unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}")
        if not self.model.exists():
            raise ValueError(f"model file {self.model} does not exist")

    @property
    def compute_dtype(self) -> torch.dtype:
        return compute_and_weights(self.precision, torch.device(self.device))[0]

    @property
    def workload(self) -> Scenario:
        scenario = SCENARIOS[self.scenario]
        return scenario.quick() if self.quick else scenario


def run_bench(options: BenchOptions, progress: Progress = lambda _: None) -> BenchReport:
    scenario, device = options.workload, torch.device(options.device)
    dtype, base = options.compute_dtype, default_precision(device)
    progress(f"loading {options.model.name}")
    hf_model, tokenizer = load_hf(options.model, dtype)
    in_short_thread(lambda: hf_model.to(device))
    prompts = build_prompts(tokenizer, scenario)
    engines = [options.precision] + ([base] if options.precision != base else [])
    models = {precision: wrap(hf_model, tokenizer, options.model, device=device, precision=precision)
              for precision in engines}
    runs: dict[str, list[SystemResult]] = {precision: [] for precision in engines}
    for repeat in range(options.repeats):          # alternated, so a drift of the machine hits every engine
        for precision, model in models.items():
            progress(f"airlock engine ({precision}): {len(prompts)} requests"
                     + (f", run {repeat + 1} of {options.repeats}" if options.repeats > 1 else ""))
            label = f"airlock engine ({precision}, {kv_dtype_for(model)} KV)"
            runs[precision].append(run_airlock(model, prompts, scenario.max_tokens, label))
    del models
    results = [_median_run(runs[precision]) for precision in engines]
    airlock, baselines = results[0], results[1:]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for name in options.baselines:
        count = _requests_for(scenario, name)
        if count:
            progress(f"baseline {name}: {count} requests")
            result = in_short_thread(lambda: BASELINES[name](hf_model, prompts[:count], scenario.max_tokens, pad))
            if count < len(prompts):
                result.note = f"{count} of {len(prompts)} requests (it is slow), each of the same shape"
            baselines.append(result)
    for result in baselines:
        result.same_tokens = _same_tokens(airlock, result)
    return BenchReport(scenario, options.model.name, _setup(options, dtype), airlock, baselines)


def _median_run(runs: list[SystemResult]) -> SystemResult:
    """The run with the median output tokens/s (the lower middle one of an even count)."""
    ranked = sorted(runs, key=lambda result: result.output_tokens_per_s)
    chosen = ranked[(len(ranked) - 1) // 2]
    if len(runs) > 1:
        chosen.note = f"median of {len(runs)} runs: " + ", ".join(f"{r.output_tokens_per_s:.1f}" for r in runs) \
            + " tok/s"
    return chosen


def _requests_for(scenario: Scenario, baseline: str) -> int:
    return {"sequential": scenario.sequential_requests, "static": scenario.static_batch_requests,
            "continuous": scenario.continuous_requests}[baseline]


def _same_tokens(airlock: SystemResult, other: SystemResult) -> float:
    pairs = list(zip(airlock.requests, other.requests))
    return sum(a.token_ids == b.token_ids for a, b in pairs) / len(pairs)


def _setup(options: BenchOptions, dtype: torch.dtype) -> dict:
    machine = Machine.now(options.device)
    return {"device": machine.device, "dtype": str(dtype).removeprefix("torch."),
            "precision": options.precision, "threads": machine.threads, "cpu_isa": machine.cpu_isa,
            "quick": options.quick, "machine": machine.arch, "cpus": machine.cpus, "python": sys.version.split()[0],
            "torch": machine.torch, "date": machine.date}
