"""Decode cost against context length, same run: the inter-token latency (ITL) of one stream,
or of several decoding together, at contexts of 40 to 1,600 tokens, the ratio to the shortest,
per precision and KV dtype; and the time to the first token of a short suffix after a long
cached prefix (a follow-up turn) against one decode step. The CPU's instruction-set level is
printed with every result."""
from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.bench.airlock import kv_dtype_for
from engine.bench.common import Machine, Report, long_over_short, ratio
from engine.config import CachePolicy, EngineConfig
from engine.kv_format import KV_TORCH_DTYPES
from engine.llm_engine import Engine
from engine.loader import LoadedModel
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams

CONTEXTS = (40, 400, 800, 1600)
SUFFIX_TOKENS, PREFIX_TOKENS = 22, 1296
_STEP_TOKENS = 512   # the engine's token budget per step
_TEXT = "The plant's maintenance log records inspection {n} of the pumps, the pressure held and the parts. "


@dataclass(slots=True)
class ContextResult:
    precision: str
    kv_dtype: str
    itl_ms: dict[int, float]             # context tokens -> median ITL while every stream decodes
    suffix_ttft_ms: float                # 22 new tokens after 1,296 cached ones

    @property
    def flatness(self) -> float | None:
        """ITL at the longest context over ITL at the shortest."""
        return long_over_short(self.itl_ms)


@dataclass(slots=True)
class ContextReport(Report):
    model: str
    machine: Machine
    streams: int = 1
    results: list[ContextResult] = field(default_factory=list)

    def table_title(self) -> list[str]:
        streams = "one stream" if self.streams == 1 else f"{self.streams} streams decoding together"
        return [f"{self.model}, {streams}, greedy; {self.machine.line()}"]

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
                "streams": self.streams,
                "flatness": {f"{r.precision} ({r.kv_dtype} KV)": r.flatness for r in self.results}}


def run_context_bench(model: LoadedModel, precision: str, contexts: tuple[int, ...] = CONTEXTS,
                      max_tokens: int = 24, kv_dtype: str | None = None, streams: int = 1) -> ContextResult:
    """kv_dtype None: the one the appliance gives this model."""
    ids = _document(model, max(max(contexts), PREFIX_TOKENS + SUFFIX_TOKENS))
    kv_dtype = kv_dtype or kv_dtype_for(model)
    longest = len(ids) + max_tokens + _prefill_steps(max(contexts), streams)
    engine = Engine(model, _config(model, longest, kv_dtype, streams))
    fresh = itertools.count(ids[0] + 1)                                    # first tokens never cached before
    try:
        _generate(engine, ids[:32], 4)                                     # warm-up
        itl = {c: _median_itl(engine, ids[:c], max_tokens, streams, fresh) for c in contexts}
        _generate(engine, ids[:PREFIX_TOKENS], 1)                          # caches the prefix
        stream = engine.submit(ids[:PREFIX_TOKENS + SUFFIX_TOKENS], _params(1))
        stream.collect()
        suffix = (stream.metrics.ttft or 0.0) * 1000
    finally:
        engine.shutdown(abort_running=True)
    return ContextResult(precision, kv_dtype, itl, suffix)


def _median_itl(engine: Engine, prompt: list[int], max_tokens: int, streams: int, fresh: Iterator[int]) -> float:
    """Median ITL over the tokens that came while every stream was decoding: after the last
    stream's first token (the others decode beside its prefill until then), up to the first
    stream's end. Each stream's first token is a fresh one, so no context comes from the cache."""
    tokens = max_tokens + _prefill_steps(len(prompt), streams)
    handles = [engine.submit([next(fresh)] + prompt[1:], _params(tokens)) for _ in range(streams)]
    for handle in handles:
        handle.collect()
    metrics = [handle.metrics for handle in handles]
    start = max(m.arrival_clock + m.ttft for m in metrics)
    end = min(m.finished_clock for m in metrics)
    together = []
    for m in metrics:
        clock = m.arrival_clock + m.ttft
        for gap in m.inter_token_latencies:
            clock += gap
            if start < clock <= end:
                together.append(gap)
    return statistics.median(together) * 1000


def _prefill_steps(context: int, streams: int) -> int:
    """Steps the other streams' prefills take while the first decodes (chunks of _STEP_TOKENS)."""
    return 0 if streams == 1 else (streams - 1) * math.ceil(context / (_STEP_TOKENS - streams)) + 2


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


def _config(model: LoadedModel, tokens: int, kv_dtype: str, streams: int) -> EngineConfig:
    block = 16
    per_block = ModelRunner.kv_bytes_per_block(model, block, KV_TORCH_DTYPES[kv_dtype])
    blocks = (streams + 3) * (tokens // block + 1) + 16
    return EngineConfig(block_size=block, kv_cache_bytes=per_block * blocks, kv_dtype=kv_dtype,
                        max_num_seqs=max(8, streams), max_num_batched_tokens=_STEP_TOKENS,
                        cache=CachePolicy(enabled=True))


def report(model: str, streams: int = 1) -> ContextReport:
    return ContextReport(model, Machine.now(), streams)
