"""Latency percentiles from the service's Prometheus histograms (GET /metrics).

A histogram's cumulative buckets, summed over its label sets; the difference of two
readings gives the distribution of just that interval (the "live" figure).
"""
from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

Buckets = dict[float, float]   # upper bound -> cumulative count


def histogram(text: str, name: str) -> Buckets:
    """The cumulative buckets of histogram `name`, summed over its label sets ({} if absent)."""
    buckets: Buckets = {}
    for metric in text_string_to_metric_families(text):
        if metric.name != name or metric.type != "histogram":
            continue
        for sample in metric.samples:
            if sample.name == name + "_bucket":
                bound = float(sample.labels["le"])        # "+Inf" parses as inf
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def since(now: Buckets, before: Buckets | None) -> Buckets:
    """The observations between two readings (all of them when there is no earlier one)."""
    if not before:
        return now
    return {bound: count - before.get(bound, 0.0) for bound, count in now.items()}


def quantile(buckets: Buckets, q: float) -> float | None:
    """The q-quantile, interpolated linearly inside its bucket (as Prometheus does)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            width = count - below
            return lower + (bound - lower) * ((rank - below) / width if width else 1.0)
        lower, below = bound, count
    return lower
