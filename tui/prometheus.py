"""Latency percentiles from the service's Prometheus histograms (GET /metrics).

A histogram's cumulative buckets, summed over its label sets; the difference of two
readings gives the distribution of just that interval (the "live" figure).
"""
from __future__ import annotations

import math
import re

_BUCKET = re.compile(r'^(?P<name>[\w:]+)_bucket\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$')
_LE = re.compile(r'le="(?P<le>[^"]+)"')

Buckets = dict[float, float]   # upper bound -> cumulative count


def histogram(text: str, name: str) -> Buckets:
    buckets: Buckets = {}
    for line in text.splitlines():
        match = _BUCKET.match(line.strip())
        if not match or match["name"] != name:
            continue
        le = _LE.search(match["labels"])
        if le:
            bound = math.inf if le["le"] == "+Inf" else float(le["le"])
            buckets[bound] = buckets.get(bound, 0.0) + float(match["value"])
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
