"""Decode cost against context length, same run: one stream's inter-token latency (ITL) at
contexts of 40 to 1,600 tokens, the ratio to the shortest, per precision; and the time to the
first token of a short suffix after a long cached prefix (a follow-up turn) against one decode
step. The CPU's instruction-set level is printed with every result."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from engine.bench.airlock import kv_dtype_for
from engine.bench.common import Machine, Report, long_over_short, ratio
from engine.config import CachePolicy, EngineConfig
from engine.llm_engine import Engine
from engine.loader import LoadedModel
from engine.precision import TORCH_DTYPES
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams

CONTEXTS = (40, 400, 800, 1600)
SUFFIX_TOKENS, PREFIX_TOKENS = 22, 1296
_TEXT = "The plant's maintenance log records inspection {n} of the pumps, the pressure held and the parts. "


@dataclass(slots=True)
class ContextResult:
    precision: str
    kv_dtype: str
    itl_ms: dict[int, float]             # context tokens -> median ITL
    suffix_ttft_ms: float                # 22 new tokens after 1,296 cached ones

    @property
    def flatness(self) -> float | None:
        """ITL at the longest context over ITL at the shortest."""
        return long_over_short(self.itl_ms)


@dataclass(slots=True)
class ContextReport(Report):
    model: str
    machine: Machine
    results: list[ContextResult] = field(default_factory=list)

    def table_title(self) -> list[str]:
        return [f"{self.model}, one stream, greedy; {self.machine.line()}"]

    def table_rows(self) -> list[str]:
        contexts = sorted(self.results[0].itl_ms) if self.results else list(CONTEXTS)
        head = f"{'precision':<10}{'KV':>6}" + "".join(f"{f'ITL@{c}':>11}" for c in contexts)
        head += f"{'x@' + str(contexts[-1]):>9}{'suffix TTFT':>13}{'x ITL@' + str(contexts[0]):>10}"
        lines = [head]
        for r in self.results:
            lines.append(f"{r.precision:<10}{r.kv_dtype:>6}" + "".join(f"{r.itl_ms[c]:>9.1f}ms" for c in contexts)
                         + f"{r.flatness:>9.2f}{r.suffix_ttft_ms:>11.1f}ms"
                         + f"{ratio(r.suffix_ttft_ms, r.itl_ms[contexts[0]]):>10.1f}")
        return lines

    def as_dict(self) -> dict:
        return {**Report.as_dict(self), "cpu_isa": self.machine.cpu_isa, "threads": self.machine.threads,
                "flatness": {r.precision: r.flatness for r in self.results}}


def run_context_bench(model: LoadedModel, precision: str, contexts: tuple[int, ...] = CONTEXTS,
                      max_tokens: int = 24) -> ContextResult:
    ids = _document(model, max(max(contexts), PREFIX_TOKENS + SUFFIX_TOKENS))
    kv_dtype = kv_dtype_for(model)
    engine = Engine(model, _config(model, len(ids) + max_tokens, kv_dtype))
    try:
        _generate(engine, ids[:32], 4)                                     # warm-up
        itl = {c: _median_itl(engine, ids[:c], max_tokens) for c in contexts}
        _generate(engine, ids[:PREFIX_TOKENS], 1)                          # caches the prefix
        stream = engine.submit(ids[:PREFIX_TOKENS + SUFFIX_TOKENS], _params(1))
        stream.collect()
        suffix = (stream.metrics.ttft or 0.0) * 1000
    finally:
        engine.shutdown(abort_running=True)
    return ContextResult(precision, kv_dtype, itl, suffix)


def _median_itl(engine: Engine, prompt: list[int], max_tokens: int) -> float:
    # a fresh prefix each time (the first token differs), so no context is served from the cache
    stream = engine.submit([prompt[0] + 1 + len(prompt) % 7] + prompt[1:], _params(max_tokens))
    stream.collect()
    return statistics.median(stream.metrics.inter_token_latencies) * 1000


def _generate(engine: Engine, prompt: list[int], max_tokens: int) -> None:
    engine.submit(prompt, _params(max_tokens)).collect()


def _params(max_tokens: int) -> SamplingParams:
    return SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)


def _document(model: LoadedModel, tokens: int) -> list[int]:
    text, n = "", 0
    while len(model.tokenizer(text).input_ids) < tokens:
        text += "".join(_TEXT.format(n=n + i) for i in range(20))
        n += 20
    return model.tokenizer(text).input_ids[:tokens]


def _config(model: LoadedModel, tokens: int, kv_dtype: str) -> EngineConfig:
    block = 16
    per_block = ModelRunner.kv_bytes_per_block(model, block, TORCH_DTYPES[kv_dtype])
    return EngineConfig(block_size=block, kv_cache_bytes=per_block * (4 * tokens // block + 16), kv_dtype=kv_dtype,
                        max_num_seqs=8, max_num_batched_tokens=512, cache=CachePolicy(enabled=True))


def report(model: str) -> ContextReport:
    return ContextReport(model, Machine.now())
