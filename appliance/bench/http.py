"""HTTP-layer benchmark: concurrent streams through the API against the in-process engine in the
same run, and the per-request overhead of the HTTP layer (paired p50).

Both sides drive the same loaded engine with the same greedy prompts, so the ratio isolates
what Flask, the HTTP front, SSE and JSON cost on top of generation. With `more_streams`, the
API is also driven at that concurrency in the same run (c32 vs c128): throughput should hold
and TTFT grow with the engine's queue, not with a thread pool.

The API's load generator runs in a process of its own, as every real client does: its 32 or
128 client threads parsing SSE inside the appliance's interpreter would take the GIL from the
request handlers and the engine's loop, a cost no deployment pays. The per-request overhead
pairs stay in this process (one request at a time, nothing to contend with).
"""
from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import httpx

from appliance.bench.openai_load import client_process
from appliance.bench.served import served_appliance
from engine.bench.common import Machine, Report, at_least, ratio
from engine.sampling_params import SamplingParams

PROMPT = "Write a short story about a lighthouse keeper."


@dataclass(slots=True)
class BenchConfig:
    streams: int = 32
    max_tokens: int = 64
    pairs: int = 30
    model_file: str = ""
    quantization: str = "auto"
    more_streams: int = 0            # 0: skip; else also drive the API at this concurrency

    def __post_init__(self) -> None:
        at_least(self, 0, "more_streams")
        at_least(self, 1, "streams", "max_tokens", "pairs")


@dataclass(slots=True)
class BenchResult:
    engine_tokens_per_s: float
    http_tokens_per_s: float
    throughput_ratio: float
    engine_latency_p50_ms: float
    http_latency_p50_ms: float
    http_overhead_p50_ms: float
    http_ttft_p50_s: float = 0.0
    more_http_tokens_per_s: float = 0.0       # at more_streams
    more_http_ttft_p50_s: float = 0.0
    more_over_base_ratio: float = 0.0         # API tokens/s at more_streams / at streams


@dataclass(slots=True)
class HttpReport(Report):
    config: BenchConfig
    result: BenchResult
    machine: Machine = field(default_factory=Machine.now)

    def as_dict(self) -> dict:
        return {"config": asdict(self.config), "result": asdict(self.result), "isa": self.machine.cpu_isa,
                "machine": asdict(self.machine)}

    def table_title(self) -> list[str]:
        c = self.config
        return [self.machine.line(),
                f"{c.streams} concurrent streams x {c.max_tokens} tokens; {c.pairs} paired 1-token requests"]

    def table_rows(self) -> list[str]:
        r = self.result
        rows = [("in-process engine", f"{r.engine_tokens_per_s:8.1f}", f"{r.engine_latency_p50_ms:8.2f}"),
                ("HTTP API (SSE)", f"{r.http_tokens_per_s:8.1f}", f"{r.http_latency_p50_ms:8.2f}")]
        return [f"{'path':20} {'tokens/s':>8} {'p50 ms':>8}", *(f"{name:20} {tps} {lat}" for name, tps, lat in rows)]

    def table_notes(self) -> list[str]:
        config, result = self.config, self.result
        lines = [f"throughput ratio (HTTP / engine): {result.throughput_ratio:.3f}; "
                 f"HTTP TTFT p50 {result.http_ttft_p50_s:.2f} s"]
        if config.more_streams:
            lines.append(f"HTTP API at {config.more_streams} streams: {result.more_http_tokens_per_s:.1f} tokens/s, "
                         f"TTFT p50 {result.more_http_ttft_p50_s:.2f} s; ratio to {config.streams} streams "
                         f"(same run): {result.more_over_base_ratio:.3f}")
        lines.append(f"HTTP overhead per request, p50: {result.http_overhead_p50_ms:.2f} ms")
        return lines


def run(config: BenchConfig) -> HttpReport:
    with served_appliance("airlock-bench-", config.quantization, config.model_file) as (appliance, server):
        model = appliance.model_names()[0]
        engine = appliance.models.get(model)
        prompt = engine.tokenizer(PROMPT)["input_ids"]
        with httpx.Client(base_url=server.url, timeout=600) as http, client_process() as client:
            _http_stream(http, model, 4)   # warm up both paths
            _engine_stream(engine, prompt, 4)
            engine_tps = _throughput(lambda: _engine_stream(engine, prompt, config.max_tokens), config.streams)
            http_tps, ttft = client.submit(_http_throughput, server.url, model, config.max_tokens,
                                           config.streams).result()
            more_tps, more_ttft = (client.submit(_http_throughput, server.url, model, config.max_tokens,
                                                 config.more_streams).result()
                                   if config.more_streams else (0.0, 0.0))
            engine_lat, http_lat, overhead = _overhead(engine, prompt, http, model, config.pairs)
    return HttpReport(config, BenchResult(engine_tps, http_tps, ratio(http_tps, engine_tps), engine_lat, http_lat,
                                          overhead, ttft, more_tps, more_ttft,
                                          ratio(more_tps, http_tps) if more_tps else 0.0))


def _engine_stream(engine, prompt: list[int], max_tokens: int) -> int:
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
    return sum(len(delta.token_ids) for delta in engine.submit(prompt, params))


def _http_stream(http: httpx.Client, model: str, max_tokens: int) -> int:
    return _timed_http_stream(http, model, max_tokens)[0]


def _timed_http_stream(http: httpx.Client, model: str, max_tokens: int) -> tuple[int, float]:
    """(completion tokens, seconds to the first token) of one streamed request."""
    body = {"model": model, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True}}
    usage, ttft, started = 0, 0.0, time.perf_counter()
    with http.stream("POST", "/v1/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not ttft and line.startswith('data: {"id"') and '"text":"' in line:
                ttft = time.perf_counter() - started
            if line.startswith("data: {") and '"usage":{' in line:
                usage = json.loads(line[6:])["usage"]["completion_tokens"]
    return usage, ttft


def _http_throughput(url: str, model: str, max_tokens: int, streams: int) -> tuple[float, float]:
    """API tokens/s and TTFT p50 with `streams` concurrent streams, each on its own connection."""
    clients = [httpx.Client(base_url=url, timeout=600) for _ in range(streams)]
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(streams) as pool:
            results = list(pool.map(lambda c: _timed_http_stream(c, model, max_tokens), clients))
        elapsed = time.perf_counter() - started
    finally:
        for client in clients:
            client.close()
    return sum(tokens for tokens, _ in results) / elapsed, statistics.median(ttft for _, ttft in results)


def _throughput(one_stream, streams: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        tokens = sum(pool.map(lambda _: one_stream(), range(streams)))
    return tokens / (time.perf_counter() - started)


def _overhead(engine, prompt: list[int], http: httpx.Client, model: str, pairs: int) -> tuple[float, float, float]:
    """p50 of one-token requests each way, taken in alternation, and the p50 of the paired gaps."""
    body = {"model": model, "prompt": PROMPT, "max_tokens": 1, "temperature": 0}
    engine_ms, http_ms = [], []
    for _ in range(pairs):
        started = time.perf_counter()
        _engine_stream(engine, prompt, 1)
        engine_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        http.post("/v1/completions", json=body).raise_for_status()
        http_ms.append((time.perf_counter() - started) * 1000)
    gaps = [h - e for h, e in zip(http_ms, engine_ms)]
    return statistics.median(engine_ms), statistics.median(http_ms), statistics.median(gaps)
