"""/metrics through prometheus_client: the latency histograms it keeps, and families of
figures the service already holds (engine stats, ledger, SLO, routes, alerts), read at scrape
time by one collector. Each Appliance has its own registry, so several can live in one process.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import prometheus_client
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

prometheus_client.disable_created_metrics()   # the *_created series: not what vLLM's dashboards read

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0, 20.0, 40.0, 80.0)
ITL_BUCKETS = (0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2,
               0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0,
                   50.0, 60.0, 120.0)
Samples = list[tuple[dict[str, str], float]]


class Histogram:
    """A prometheus_client histogram by model, with the per-bucket totals the alert rules read."""

    def __init__(self, name: str, help: str, buckets: tuple[float, ...], registry: CollectorRegistry) -> None:
        self.buckets = buckets
        self._metric = prometheus_client.Histogram(name, help, ["model_name"], buckets=buckets, registry=registry)

    def observe(self, value: float, model_name: str) -> None:
        self._metric.labels(model_name=model_name).observe(value)

    def observe_many(self, values: Iterable[float], model_name: str) -> None:
        child = self._metric.labels(model_name=model_name)
        for value in values:
            child.observe(value)

    def bucket_totals(self) -> list[int]:
        """Per-bucket counts (not cumulative) summed over every model, the overflow (+Inf) bucket last."""
        cumulative: dict[str, list[float]] = {}
        for sample in self._metric.collect()[0].samples:
            if sample.name.endswith("_bucket"):
                cumulative.setdefault(sample.labels["model_name"], []).append(sample.value)
        totals = [0] * (len(self.buckets) + 1)
        for counts in cumulative.values():           # in bucket order, +Inf last
            for i, (count, below) in enumerate(zip(counts, [0.0] + counts[:-1])):
                totals[i] += int(count - below)
        return totals


def family(name: str, kind: str, help: str, samples: Samples) -> Metric:
    """One counter or gauge family of figures read at scrape time; a counter's name ends in _total."""
    metric = Metric(name.removesuffix("_total") if kind == "counter" else name, help, kind)
    for labels, value in samples:
        metric.add_sample(name, labels, value)
    return metric


class ScrapeCollector:
    """Calls `read` at each scrape for the families it yields."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        return self._read()


def exposition(registry: CollectorRegistry) -> bytes:
    return prometheus_client.generate_latest(registry)


CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
