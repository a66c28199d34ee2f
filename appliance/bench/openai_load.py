"""A load generator on the official `openai` client: N concurrent streamed chat completions,
each stream its own request, all sent at once, against any OpenAI-compatible server (Airlock,
llama.cpp's llama-server). The same code drives every system a side-by-side benchmark compares.

Assumptions: the server streams chat chunks and, with stream_options.include_usage, ends with a
usage chunk (both Airlock and llama-server do); the counts of tokens come from that usage, not
from the chunks, since a chunk may carry more than one token. Time to first token (TTFT) is from
sending the request to the first chunk with content; inter-token latency (ITL) is the gap
between consecutive content chunks as the client sees them; time per output token (TPOT) is a
stream's (last chunk - first chunk) / (tokens - 1). Requests are greedy and, with
`ignore_eos` (both servers accept it), run to max_tokens, so every system does the same work.

The client never follows proxy settings from the environment (trust_env off): the traffic stays
on the address given, which is loopback for the benchmarks. `LoadGenerator` runs the client in
a process of its own, so its Python work does not share a GIL with an in-process server.
Standard library, httpx and openai only at import: no torch in the client process.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from engine.bench.common import at_least


@dataclass(slots=True, frozen=True)
class Target:
    """An OpenAI-compatible server: base_url ends in /v1."""
    base_url: str
    model: str
    api_key: str = "not-needed"


@dataclass(slots=True, frozen=True)
class Load:
    messages: tuple[tuple[str, str], ...]      # (role, content)
    max_tokens: int
    streams: int = 1
    timeout_s: float = 900.0
    distinct: bool = True     # each stream's last message starts "Request <n>.": no prompt is another's

    def __post_init__(self) -> None:
        at_least(self, 1, "max_tokens", "streams")


@dataclass(slots=True)
class StreamTiming:
    """One streamed request as the client saw it."""
    prompt_tokens: int
    completion_tokens: int
    chunks: int                  # chunks with content
    ttft_s: float
    gaps_s: list[float] = field(default_factory=list)   # between consecutive content chunks
    finish_reason: str | None = None

    @property
    def tpot_s(self) -> float | None:
        if self.completion_tokens < 2 or not self.gaps_s:
            return None
        return sum(self.gaps_s) / (self.completion_tokens - 1)


@dataclass(slots=True)
class LoadResult:
    streams: int
    requests: int
    prompt_tokens: int           # of the first request (the others differ by their number at most)
    output_tokens: int           # all requests, from the usage chunks
    chunks: int
    wall_s: float
    output_tokens_per_s: float
    ttft_p50_ms: float
    itl_p50_ms: float | None
    tpot_p50_ms: float | None
    finish_reasons: dict[str, int] = field(default_factory=dict)


def summarize(timings: list[StreamTiming], wall_s: float) -> LoadResult:
    """The figures of one load from its streams' timings and the wall time of the whole."""
    gaps = [gap for t in timings for gap in t.gaps_s]
    tpots = [t.tpot_s for t in timings if t.tpot_s is not None]
    reasons: dict[str, int] = {}
    for t in timings:
        reasons[str(t.finish_reason)] = reasons.get(str(t.finish_reason), 0) + 1
    output = sum(t.completion_tokens for t in timings)
    return LoadResult(len(timings), len(timings), timings[0].prompt_tokens if timings else 0, output,
                      sum(t.chunks for t in timings), wall_s, output / wall_s if wall_s > 0 else 0.0,
                      statistics.median(t.ttft_s for t in timings) * 1000,
                      statistics.median(gaps) * 1000 if gaps else None,
                      statistics.median(tpots) * 1000 if tpots else None, reasons)


def drive(target: Target, load: Load) -> LoadResult:
    """Send load.streams requests at once and wait for all; in this process. A failed request is
    an OSError naming the server (the openai client's errors do not cross a process boundary)."""
    import openai

    try:
        return asyncio.run(_drive(target, load))
    except openai.OpenAIError as exc:
        raise OSError(f"{target.base_url}: {type(exc).__name__}: {exc}") from None


async def _drive(target: Target, load: Load) -> LoadResult:
    import openai

    http = openai.DefaultAsyncHttpxClient(trust_env=False, limits=_limits(load.streams))
    client = openai.AsyncOpenAI(base_url=target.base_url, api_key=target.api_key, max_retries=0,
                                timeout=load.timeout_s, http_client=http)
    try:
        started = time.perf_counter()
        timings = await asyncio.gather(*(_stream(client, target.model, load, _messages(load, n))
                                         for n in range(load.streams)))
        wall = time.perf_counter() - started
    finally:
        await client.close()
    return summarize(list(timings), wall)


def _limits(streams: int) -> Any:
    import httpx

    return httpx.Limits(max_connections=streams + 4, max_keepalive_connections=streams + 4)


def _messages(load: Load, stream: int) -> list[dict[str, str]]:
    """Stream `stream`'s messages: with load.distinct, the last one numbered, so a server's prefix
    cache shares what real requests share (the system message) and nothing more."""
    messages = [{"role": role, "content": content} for role, content in load.messages]
    if load.distinct:
        messages[-1]["content"] = f"Request {stream + 1}. {messages[-1]['content']}"
    return messages


async def _stream(client: Any, model: str, load: Load, messages: list[dict[str, str]]) -> StreamTiming:
    started = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model, messages=messages, max_tokens=load.max_tokens, temperature=0.0, stream=True,
        stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
    arrivals: list[float] = []
    usage, finish = None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                arrivals.append(time.perf_counter())
            finish = choice.finish_reason or finish
    if usage is None:
        raise ValueError(f"{client.base_url} sent no usage chunk (stream_options.include_usage)")
    if not arrivals:
        raise ValueError(f"{client.base_url} streamed no content")
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    return StreamTiming(usage.prompt_tokens, usage.completion_tokens, len(arrivals), arrivals[0] - started, gaps,
                        finish)


@contextmanager
def client_process() -> Iterator[ProcessPoolExecutor]:
    """One spawned process for a load generator, started before anything is timed: a client's
    Python work must not share the GIL of a server running in the benchmark's process."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(time.sleep, 0).result()
        yield pool


class LoadGenerator:
    """`drive` in a client_process (one for the generator's life): use as a context manager."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._process = client_process()

    def __enter__(self) -> LoadGenerator:
        self._pool = self._process.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool = None
        self._process.__exit__(*exc)

    def drive(self, target: Target, load: Load) -> LoadResult:
        if self._pool is None:
            raise RuntimeError("LoadGenerator is used as a context manager")
        return self._pool.submit(drive, target, load).result()
