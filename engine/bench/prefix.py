"""Prefix caching on versus off, same run: the TTFT of a request whose long prefix is cached,
and the throughput of a chat workload sharing one system prompt."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from engine.bench.common import Machine, Report, ratio
from engine.config import CachePolicy, EngineConfig
from engine.llm_engine import Engine
from engine.loader import LoadedModel
from engine.sampling_params import SamplingParams

_DOCUMENT = ("Section {n}. The plant's maintenance log records each inspection of pump {n}, "
             "the pressure it held, the technician who signed it and the parts replaced. ")


@dataclass(slots=True)
class PrefixBenchResult(Report):
    prefix_tokens: int
    ttft_cached_s: float           # median, caching on, prefix computed by an earlier request
    ttft_uncached_s: float         # median, caching off
    chat_requests: int
    system_prompt_tokens: int
    chat_tokens_per_s_on: float
    chat_tokens_per_s_off: float
    chat_hit_rate_on: float        # prompt tokens served from cache / prompt tokens looked up
    notes: list[str] = field(default_factory=list)
    machine: Machine = field(default_factory=Machine.now)

    @property
    def ttft_speedup(self) -> float | None:
        return ratio(self.ttft_uncached_s, self.ttft_cached_s)

    @property
    def chat_speedup(self) -> float | None:
        return ratio(self.chat_tokens_per_s_on, self.chat_tokens_per_s_off)

    def table_title(self) -> list[str]:
        return [f"prefix cache on versus off, same run; {self.machine.line()}"]

    def table_rows(self) -> list[str]:
        return [
            f"{'measure':<52}{'cache on':>12}{'cache off':>12}{'ratio':>9}",
            f"{f'TTFT, {self.prefix_tokens}-token prefix cached (median)':<52}"
            f"{self.ttft_cached_s * 1000:>10.1f}ms{self.ttft_uncached_s * 1000:>10.1f}ms{self.ttft_speedup:>8.1f}x",
            f"{f'chat, {self.chat_requests} requests, {self.system_prompt_tokens}-token system prompt, tok/s':<52}"
            f"{self.chat_tokens_per_s_on:>12.1f}{self.chat_tokens_per_s_off:>12.1f}{self.chat_speedup:>8.2f}x",
            f"{'chat prefix-cache hit rate (tokens)':<52}{self.chat_hit_rate_on:>12.1%}{'-':>12}",
        ]

    def table_notes(self) -> list[str]:
        return self.notes

    def as_dict(self) -> dict:
        return {**Report.as_dict(self), "ttft_speedup": self.ttft_speedup, "chat_speedup": self.chat_speedup}


def document_ids(model: LoadedModel, tokens: int) -> list[int]:
    ids: list[int] = []
    n = 1
    while len(ids) < tokens:
        ids += model.tokenizer(_DOCUMENT.format(n=n), add_special_tokens=False).input_ids
        n += 1
    return ids[:tokens]


def run_prefix_bench(model: LoadedModel, prefix_tokens: int = 1000, chat_requests: int = 32,
                     system_tokens: int = 500, max_tokens: int = 32, repeats: int = 3) -> PrefixBenchResult:
    on = [_ttft(model, prefix_tokens, True, i) for i in range(repeats)]
    off = [_ttft(model, prefix_tokens, False, i) for i in range(repeats)]
    rate_on, hit_on = _chat(model, chat_requests, system_tokens, max_tokens, True)
    rate_off, _ = _chat(model, chat_requests, system_tokens, max_tokens, False)
    return PrefixBenchResult(prefix_tokens, statistics.median(on), statistics.median(off), chat_requests,
                             system_tokens, rate_on, rate_off, hit_on, machine=Machine.now(model.device.type))


def _engine(model: LoadedModel, caching: bool) -> Engine:
    return Engine(model, EngineConfig(kv_cache_bytes=256 * 1024**2, max_num_batched_tokens=2048,
                                      cache=CachePolicy(enabled=caching)))


def _ttft(model: LoadedModel, prefix_tokens: int, caching: bool, round_: int) -> float:
    """The second request shares the first one's prefix and differs only in its question."""
    prefix = document_ids(model, prefix_tokens)
    question = lambda n: model.tokenizer(f" Question {round_}.{n}: which pump failed?",
                                         add_special_tokens=False).input_ids
    params = SamplingParams(max_tokens=1, temperature=0.0, ignore_eos=True)
    engine = _engine(model, caching)
    try:
        engine.submit(prefix + question(0), params).collect()
        stream = engine.submit(prefix + question(1), params)
        stream.collect()
        return stream.metrics.ttft or 0.0
    finally:
        engine.shutdown()


def _chat(model: LoadedModel, requests: int, system_tokens: int, max_tokens: int,
          caching: bool) -> tuple[float, float]:
    system = document_ids(model, system_tokens)
    prompts = [system + model.tokenizer(f" User {i} asks about pump {i * 7 % 31}.",
                                        add_special_tokens=False).input_ids for i in range(requests)]
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    engine = _engine(model, caching)
    try:
        engine.submit(prompts[0], params).collect()          # the system prompt's first user
        before = engine.stats().cache
        start = time.perf_counter()
        streams = [engine.submit(p, params) for p in prompts[1:]]
        tokens = sum(len(s.collect()[0].token_ids) for s in streams)
        wall = time.perf_counter() - start
        after = engine.stats().cache
        queried = after.queries_tokens - before.queries_tokens
        hit_rate = (after.hits_tokens - before.hits_tokens) / queried if queried else 0.0
        return tokens / wall, hit_rate
    finally:
        engine.shutdown()
