"""`airlock bench --speculation ngram|self|draft`: the same requests with speculation off and on, one run.

Scenarios: one request rewriting a ~500-token text given in its prompt (input-grounded, where
prompt lookup drafts well), one open chat request (nothing to copy: a drafting model's case),
and 32 concurrent requests (adaptive: the engine stops drafting at that batch size). Also the
physics: one forward over k + 1 positions of a sequence (a verification pass) against one
decode step of it, and, where a model drafts, one decode step of the drafting model.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from engine.bench.common import Machine, Report, ratio
from engine.config import EngineConfig
from engine.llm_engine import Engine
from engine.sampling_params import SamplingParams
from engine.sequence import Sequence
from engine.speculation import SpeculationConfig

SENTENCES = [
    "The maintenance report for line four covers the week of the twelfth.",
    "On Monday the conveyor motor overheated twice and was shut down for inspection.",
    "The technicians found a worn bearing on the drive shaft and replaced it the same afternoon.",
    "On Tuesday the packaging robot dropped cartons because its vacuum gripper had a cracked seal.",
    "The seal was replaced, and the robot was recalibrated against the new carton size.",
    "On Wednesday the line ran without faults at ninety-six percent of its rated speed.",
    "On Thursday a sensor on the filling station reported false low levels every few minutes.",
    "The sensor cable had been pinched by a guard panel; it was rerouted and the alarms stopped.",
    "On Friday the night shift reported a burning smell near the control cabinet.",
    "An electrician found a loose terminal on the main contactor and tightened it.",
    "No parts were damaged, but the cabinet fans were cleaned as a precaution.",
    "Spare parts used this week: one bearing, one vacuum seal, two cable ties and a fan filter.",
    "Downtime for the week was three hours and ten minutes, most of it on Monday.",
    "The team recommends replacing the remaining original bearings during the next planned stop.",
    "They also ask for a spare vacuum gripper to be kept on site, since the supplier needs two weeks.",
    "The safety inspection found no open issues, and the fire extinguishers were checked and tagged.",
    "Training for the two new operators on the packaging robot is planned for next Wednesday.",
    "The line supervisor thanks the night shift for reporting the smell quickly.",
]


@dataclass(slots=True)
class SpecRow:
    scenario: str
    tokens_per_s_off: float
    tokens_per_s_on: float
    ratio: float
    identical: bool
    draft_tokens: int
    accepted_tokens: int
    acceptance_rate: float | None
    mean_accepted_length: float | None
    ratios: list[float] = field(default_factory=list)   # every off/on pair's, in run order


@dataclass(slots=True)
class SpecReport(Report):
    model: str
    machine: Machine
    method: str
    k: int
    repeats: int = 1
    rows: list[SpecRow] = field(default_factory=list)
    decode_step_ms: float = 0.0
    verify_pass_ms: float = 0.0
    draft_step_ms: float | None = None       # one decode step of the drafting model (self, draft)

    def as_dict(self) -> dict:
        return {**Report.as_dict(self), "isa": self.machine.cpu_isa}

    def table_title(self) -> list[str]:
        pairs = f", median of {self.repeats} off/on pairs" if self.repeats > 1 else ""
        return [f"model {self.model}, speculation {self.method} k={self.k}{pairs}; {self.machine.line()}"]

    def table_rows(self) -> list[str]:
        lines = [f"{'scenario':<10} {'off tok/s':>10} {'on tok/s':>10} {'ratio':>7} {'same':>5} "
                 f"{'accept':>7} {'mean len':>9}"]
        for r in self.rows:
            rate = f"{r.acceptance_rate:.2f}" if r.acceptance_rate is not None else "-"
            mean = f"{r.mean_accepted_length:.2f}" if r.mean_accepted_length is not None else "-"
            lines.append(f"{r.scenario:<10} {r.tokens_per_s_off:>10.1f} {r.tokens_per_s_on:>10.1f} "
                         f"{r.ratio:>6.2f}x {str(r.identical):>5} {rate:>7} {mean:>9}"
                         + (f"  (ratios {', '.join(f'{x:.2f}' for x in r.ratios)})" if len(r.ratios) > 1 else ""))
        return lines

    def table_notes(self) -> list[str]:
        lines = [f"verification pass over {self.k + 1} positions: {self.verify_pass_ms:.1f} ms; "
                 f"one decode step: {self.decode_step_ms:.1f} ms "
                 f"({self.verify_pass_ms / max(self.decode_step_ms, 1e-9):.2f}x)"]
        if self.draft_step_ms is not None:
            lines.append(f"one decode step of the drafting model: {self.draft_step_ms:.1f} ms "
                         f"({self.draft_step_ms / max(self.decode_step_ms, 1e-9):.2f}x the served model's)")
        return lines


def grounded_prompt(tokenizer: Any) -> list[int]:
    text = " ".join(SENTENCES * 2)
    messages = [{"role": "user", "content": f"Rewrite this report, keeping every fact:\n\n{text}"}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                         return_dict=True)["input_ids"]


CHAT_QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def chat_prompt(tokenizer: Any) -> list[int]:
    return tokenizer.apply_chat_template([{"role": "user", "content": CHAT_QUESTION}], add_generation_prompt=True,
                                         tokenize=True, return_dict=True)["input_ids"]


def run_speculation_bench(model: Any, method: str = "ngram", k: int = 4, quick: bool = False,
                          draft_model: str = "", repeats: int = 1) -> SpecReport:
    """repeats: off/on pairs per scenario, run alternately; each row is the pair of median ratio."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    prompt = grounded_prompt(model.tokenizer)
    spec = SpeculationConfig(method=method, k=k, draft_model=draft_model)
    report = SpecReport(model.name, Machine.now(model.device.type), method, k, repeats)
    single = SamplingParams(max_tokens=16 if quick else 128, temperature=0.0)
    crowd = SamplingParams(max_tokens=8 if quick else 32, temperature=0.0)
    scenarios = [("grounded", [prompt], single), ("chat", [chat_prompt(model.tokenizer)], single),
                 ("c32", [prompt[:-8 - i] + prompt[-8:] for i in range(32)], crowd)]
    for name, prompts, params in scenarios:
        report.rows.append(_compare(model, spec, name, prompts, params, repeats))
    report.decode_step_ms, report.verify_pass_ms = _verify_cost(model, prompt, k)
    if spec.uses_model:
        report.draft_step_ms = _draft_step_cost(model, spec, prompt)
    return report


def _compare(model: Any, spec: SpeculationConfig, name: str, prompts: list[list[int]],
             params: SamplingParams, repeats: int) -> SpecRow:
    """Off and on alternately, each in an engine of its own (one engine thread at a time)."""
    pairs = [(_run(model, SpeculationConfig(), prompts, params), _run(model, spec, prompts, params))
             for _ in range(repeats)]
    ratios = [on[0] / off[0] for off, on in pairs]
    (off, _, _), (on, _, streams) = pairs[sorted(range(repeats), key=ratios.__getitem__)[repeats // 2]]
    identical = all(off_run[1] == on_run[1] for off_run, on_run in pairs)
    drafted = sum(s.metrics.spec_draft_tokens for s in streams)
    accepted = sum(s.metrics.spec_accepted_tokens for s in streams)
    drafts = sum(s.metrics.spec_drafts for s in streams)
    return SpecRow(name, off, on, ratio(on, off), identical, drafted, accepted,
                   accepted / drafted if drafted else None, 1 + accepted / drafts if drafts else None,
                   [round(r, 3) for r in ratios])


def _run(model: Any, spec: SpeculationConfig, prompts: list[list[int]],
         params: SamplingParams) -> tuple[float, list[list[int]], list[Any]]:
    engine = Engine(model, EngineConfig(kv_cache_bytes=128 * 2**20, speculation=spec))
    try:
        engine.submit(prompts[0], SamplingParams(max_tokens=2, temperature=0.0)).collect()   # warm, cache the prompt
        start = time.perf_counter()
        streams = [engine.submit(p, params) for p in prompts]
        outputs = [s.collect()[0].token_ids for s in streams]
        elapsed = time.perf_counter() - start
    finally:
        engine.shutdown()
    return sum(len(o) for o in outputs) / elapsed, outputs, streams


def _verify_cost(model: Any, prompt: list[int], k: int, repeats: int = 15) -> tuple[float, float]:
    """Median ms of one decode row and of k + 1 one-token rows of the same sequence."""
    from engine.model_runner import ForwardBatch
    engine = Engine(model, EngineConfig(kv_cache_bytes=64 * 2**20))
    engine.shutdown()
    runner, seq = engine.runner, Sequence("bench-verify", list(prompt))
    engine.block_manager.ensure(seq, len(prompt) + k + 1)
    table = seq.block_table
    runner.forward(ForwardBatch([prompt], [0], [table]))
    n = len(prompt)
    decode = ForwardBatch([[prompt[-1]]], [n], [table])
    verify = ForwardBatch([[t] for t in prompt[-k - 1:]], list(range(n, n + k + 1)), [table] * (k + 1))
    return _median_ms(runner, decode, repeats), _median_ms(runner, verify, repeats)


def _draft_step_cost(model: Any, spec: SpeculationConfig, prompt: list[int], repeats: int = 15) -> float:
    """Median ms of one decode row of the drafting model, as the engine holds it."""
    from engine.model_runner import ForwardBatch
    engine = Engine(model, EngineConfig(kv_cache_bytes=64 * 2**20, speculation=spec))
    engine.shutdown()
    runner, seq = engine.speculator.drafter.runner, Sequence("bench-draft", list(prompt))
    engine.block_manager.ensure(seq, len(prompt) + 1)
    runner.forward(ForwardBatch([prompt], [0], [seq.block_table]))
    return _median_ms(runner, ForwardBatch([[prompt[-1]]], [len(prompt)], [seq.block_table]), repeats)


def _median_ms(runner: Any, batch: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner.forward(batch)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
