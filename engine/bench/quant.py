"""Quantization benchmark: each precision of one model measured in the same run.

For every precision: resident weight bytes, perplexity on a fixed text and the mean KL
divergence of its next-token distributions from the first precision's, one request alone
(tokens/s over 128 generated tokens) and 32 concurrent requests x 128 tokens (aggregate
tokens/s). The first precision listed is the baseline the ratios are taken against.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from engine import planner
from engine.attention import build_metadata
from engine.bench.common import Machine, Report, at_least, ratio
from engine.config import EngineConfig
from engine.kv_format import KV_TORCH_DTYPES
from engine.llm_engine import Engine
from engine.loader import LoadedModel, load_model
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams
from engine.short_thread import short_lived

FIXED_TEXT = (
    "The river town woke slowly on market day. Before the sun cleared the hills, the baker had "
    "already pulled the first loaves from the oven, and the smell of warm bread drifted down the "
    "narrow street toward the water. Fishermen checked their nets by lantern light while their "
    "children carried baskets of apples, pears and late plums to the stalls in the square. By "
    "seven o'clock the square was full. Farmers argued about the weather, the price of grain and "
    "whether the new bridge would bring more trade or only more noise. An old woman sold honey in "
    "small clay jars and told anyone who would listen that the bees had never been so busy. At the "
    "school on the hill, the teacher opened the windows, wrote the date on the board and waited "
    "for the bell. She planned a lesson about the river itself: where it began as a spring in the "
    "mountains, how it gathered smaller streams on its way, and why the town had been built at the "
    "point where the water slowed and widened. Her students would draw maps, measure the current "
    "with a stopwatch and a floating stick, and write a short report about what they found. In the "
    "afternoon the clouds rolled in from the west, and a light rain fell on the empty stalls. The "
    "baker counted the day's coins, the fishermen mended a torn net, and the teacher read the "
    "reports by the window, smiling at a drawing of a fish that was larger than the bridge."
)
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "nf4")


@dataclass(slots=True)
class QuantBenchOptions:
    model: Path
    device: str = "cpu"
    precisions: tuple[str, ...] = ("fp32", "int8")
    max_tokens: int = 128
    concurrency: int = 32

    def __post_init__(self) -> None:
        if not self.model.exists():
            raise ValueError(f"model file {self.model} not found")
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown or not self.precisions:
            raise ValueError(f"precisions must be among {', '.join(PRECISIONS)}, got {', '.join(unknown) or 'none'}")
        at_least(self, 1, "max_tokens", "concurrency")


@dataclass(slots=True)
class PrecisionResult:
    precision: str
    weight_bytes: int
    perplexity: float
    divergence: float            # mean KL from the first precision's next-token distributions, nats
    single_tokens_per_s: float
    concurrent_tokens_per_s: float
    load_seconds: float


@dataclass(slots=True)
class QuantReport(Report):
    model: str
    machine: Machine
    max_tokens: int
    concurrency: int
    fp16_bytes: int = 0          # what the model's parameters take in fp16: the ratios' reference
    results: list[PrecisionResult] = field(default_factory=list)

    def ratios(self) -> dict[str, dict[str, float]]:
        """Each precision against the first: speed up, weight bytes vs fp16, perplexity change."""
        base = self.results[0]
        fp16_bytes = next((r.weight_bytes for r in self.results if r.precision in ("fp16", "bf16")),
                          self.fp16_bytes)
        return {r.precision: {
            "single_speedup": ratio(r.single_tokens_per_s, base.single_tokens_per_s),
            "concurrent_speedup": ratio(r.concurrent_tokens_per_s, base.concurrent_tokens_per_s),
            "weight_bytes_vs_fp16": ratio(r.weight_bytes, fp16_bytes),
            "perplexity_change": ratio(r.perplexity, base.perplexity) - 1.0,
        } for r in self.results}

    def as_dict(self) -> dict:
        m = self.machine
        return {**Report.as_dict(self), "device": m.device, "threads": m.threads, "cpu_isa": m.cpu_isa,
                "ratios": self.ratios()}

    def table_title(self) -> list[str]:
        return [f"{self.model}, {self.max_tokens} tokens per request; {self.machine.line()}"]

    def table_rows(self) -> list[str]:
        ratios = self.ratios()
        lines = [f"{'precision':<10} {'weights MiB':>12} {'x fp16':>7} {'ppl':>8} {'KL':>7} {'1 req tok/s':>12} "
                 f"{'x':>6} {f'{self.concurrency} req tok/s':>13} {'x':>6}"]
        for r in self.results:
            q = ratios[r.precision]
            lines.append(f"{r.precision:<10} {r.weight_bytes / 1024**2:>12.1f} {q['weight_bytes_vs_fp16']:>7.2f} "
                         f"{r.perplexity:>8.2f} {r.divergence:>7.4f} {r.single_tokens_per_s:>12.1f} {q['single_speedup']:>6.2f} "
                         f"{r.concurrent_tokens_per_s:>13.1f} {q['concurrent_speedup']:>6.2f}")
        return lines


def run_quant_bench(options: QuantBenchOptions, progress: Callable[[str], None] = lambda _: None) -> QuantReport:
    report = QuantReport(model=options.model.name, machine=Machine.now(options.device),
                         max_tokens=options.max_tokens, concurrency=options.concurrency)
    reference = None
    for precision in options.precisions:
        progress(f"loading {precision}")
        started = time.perf_counter()
        model = load_model(options.model, device=options.device, precision=precision)
        load_seconds = time.perf_counter() - started
        report.fp16_bytes = report.fp16_bytes or fp16_parameter_bytes(model)
        logprobs, quality = _quality(model, reference)
        reference = logprobs if reference is None else reference
        report.results.append(_measure(model, precision, load_seconds, options, quality, progress))
        del model
    return report



def next_token_logprobs(model: LoadedModel, token_ids: list[int], block_size: int = 16,
                        kv_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Log-probabilities of the next token at every position of `token_ids`, in one forward
    ([len, vocab], float32)."""
    blocks = math.ceil(len(token_ids) / block_size)
    runner = ModelRunner(model, blocks, block_size, kv_dtype)
    meta = build_metadata([len(token_ids)], [0], [list(range(blocks))], block_size, runner.windows, model.device)
    meta.last_rows = torch.arange(len(token_ids), device=model.device)   # logits at every position
    ids = torch.tensor(token_ids, dtype=torch.long, device=model.device)
    with torch.inference_mode():
        logits = model.module.logits(model.module(ids, meta, runner.kv_caches))
    return F.log_softmax(logits.float(), dim=-1)


def perplexity(model: LoadedModel, token_ids: list[int], block_size: int = 16,
               kv_dtype: torch.dtype | None = None) -> float:
    """exp(mean negative log-likelihood) of each token given the ones before it, in one forward."""
    return perplexity_of(next_token_logprobs(model, token_ids, block_size, kv_dtype), token_ids)


def perplexity_of(logprobs: torch.Tensor, token_ids: list[int]) -> float:
    targets = torch.tensor(token_ids[1:], device=logprobs.device).unsqueeze(1)
    return math.exp(-logprobs[:-1].gather(1, targets).mean().item())


def divergence(reference: torch.Tensor, logprobs: torch.Tensor) -> float:
    """Mean KL(reference || logprobs) over positions, in nats: how far one precision's
    next-token distributions are from the reference's. Steadier than a perplexity change on a
    short text, which moves with the few tokens either model finds unlikely."""
    return (reference.exp() * (reference - logprobs)).sum(dim=-1).mean().item()


@short_lived
def _quality(model: LoadedModel, reference: torch.Tensor | None) -> tuple[torch.Tensor, tuple[float, float]]:
    """(next-token log-probabilities on FIXED_TEXT, (perplexity, KL from `reference`, 0 without
    one)). In a short thread, so the engine measured next keeps the only OpenMP team
    (engine/short_thread.py): torch work on this thread would slow its every step."""
    ids = model.tokenizer(FIXED_TEXT)["input_ids"]
    logprobs = next_token_logprobs(model, ids)
    return logprobs, (perplexity_of(logprobs, ids), divergence(reference if reference is not None else logprobs,
                                                               logprobs))


def _measure(model: LoadedModel, precision: str, load_seconds: float, options: QuantBenchOptions,
             quality: tuple[float, float], progress: Callable[[str], None]) -> PrecisionResult:
    prompts = [model.tokenizer(f"Request {i}: tell a short story about the river town.")["input_ids"]
               for i in range(options.concurrency)]
    kv_dtype = planner.default_kv_dtype(precision, options.device)      # what a load in the appliance gets
    kv_bytes = options.concurrency * (max(map(len, prompts)) + options.max_tokens + 32) \
        * ModelRunner.kv_bytes_per_block(model, 1, KV_TORCH_DTYPES[kv_dtype])
    engine = Engine(model, EngineConfig(kv_cache_bytes=kv_bytes, kv_dtype=kv_dtype,
                                        max_num_seqs=max(options.concurrency, 1),
                                        max_num_batched_tokens=max(512, options.concurrency)))
    try:
        _generate(engine, prompts[:1], 8)                         # warm-up
        progress(f"{precision}: one request")
        single = _generate(engine, prompts[:1], options.max_tokens)
        progress(f"{precision}: {options.concurrency} concurrent requests")
        concurrent = _generate(engine, prompts, options.max_tokens)
    finally:
        engine.shutdown()
    return PrecisionResult(precision, model.weight_bytes(), *quality, single, concurrent, load_seconds)


def _generate(engine: Engine, prompts: list[list[int]], max_tokens: int) -> float:
    """Aggregate generated tokens per second, from submitting to the last token."""
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    started = time.perf_counter()
    streams = [engine.submit(p, params) for p in prompts]
    tokens = sum(len(d.token_ids) for s in streams for d in s)
    return tokens / (time.perf_counter() - started)


def fp16_parameter_bytes(model: LoadedModel) -> int:
    """2 bytes per parameter (the planner's count from the config). Not half of the fp32 figure:
    on CPU fp32 also holds a tied LM head's oneDNN-packed copy."""
    return planner.weight_bytes(planner.ModelShape.from_config(model.hf_config.to_dict()), "fp16", "cuda")
