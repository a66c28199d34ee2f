"""Per-request latency histograms and request counters, fed by the API as requests finish."""
from __future__ import annotations

import threading
from collections import Counter

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from appliance.api.prometheus import ITL_BUCKETS, SECONDS_BUCKETS, TTFT_BUCKETS, Histogram, family
from engine.outputs import RequestMetrics

PREFIX = "airlock:"


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)   # this appliance's histograms
        self.ttft = Histogram(PREFIX + "time_to_first_token_seconds",
                              "Time to first token, from arrival.", TTFT_BUCKETS, self.registry)
        self.itl = Histogram(PREFIX + "inter_token_latency_seconds",
                             "Time between successive output tokens.", ITL_BUCKETS, self.registry)
        self.queue = Histogram(PREFIX + "request_queue_time_seconds",
                               "Time a request waited before it was first scheduled.", SECONDS_BUCKETS, self.registry)
        self.e2e = Histogram(PREFIX + "e2e_request_latency_seconds",
                             "Time from arrival to the last token.", SECONDS_BUCKETS, self.registry)
        self._lock = threading.Lock()
        self.finished: Counter[tuple[str, str]] = Counter()
        self._prompt_tokens: Counter[str] = Counter()
        self._generation_tokens: Counter[str] = Counter()
        self._response_queries: Counter[str] = Counter()
        self._response_hits: Counter[str] = Counter()

    def response_lookup(self, model: str, hit: bool) -> None:
        """A deterministic request asked the response caches (exact, then semantic)."""
        with self._lock:
            self._response_queries[model] += 1
            self._response_hits[model] += hit

    def response_totals(self) -> tuple[int, int]:
        """(lookups, hits) in the response caches, all models together."""
        with self._lock:
            return sum(self._response_queries.values()), sum(self._response_hits.values())

    def observe(self, model: str, metrics: RequestMetrics, finish_reason: str | None,
                response_cached: bool = False) -> None:
        if response_cached:   # replayed: the engine computed nothing
            with self._lock:
                self.finished[(model, finish_reason or "unknown")] += 1
            return
        if metrics.ttft is not None:
            self.ttft.observe(metrics.ttft, model_name=model)
        self.itl.observe_many(list(metrics.inter_token_latencies), model_name=model)
        self.queue.observe(metrics.queue_time, model_name=model)
        self.e2e.observe(metrics.duration, model_name=model)
        with self._lock:
            self.finished[(model, finish_reason or "unknown")] += 1
            self._prompt_tokens[model] += metrics.prompt_tokens
            self._generation_tokens[model] += metrics.completion_tokens

    def families(self) -> list[Metric]:
        """The counters, then the histograms."""
        with self._lock:
            success = [({"model_name": m, "finished_reason": r}, v) for (m, r), v in self.finished.items()]
            prompt = [({"model_name": m}, v) for m, v in self._prompt_tokens.items()]
            generation = [({"model_name": m}, v) for m, v in self._generation_tokens.items()]
            queries = [({"model_name": m}, v) for m, v in self._response_queries.items()]
            hits = [({"model_name": m}, self._response_hits[m]) for m in self._response_queries]
        return [family(PREFIX + "request_success_total", "counter", "Finished requests by finish reason.", success),
                family(PREFIX + "prompt_tokens_total", "counter", "Prompt tokens processed.", prompt),
                family(PREFIX + "generation_tokens_total", "counter", "Output tokens generated.", generation),
                family(PREFIX + "response_cache_queries_total", "counter",
                       "Deterministic requests looked up in the response caches.", queries),
                family(PREFIX + "response_cache_hits_total", "counter",
                       "Requests answered from the response caches.", hits),
                *self.registry.collect()]
