"""Load signals for spilling: a tier's requests in flight (read from its engine, plus those
routed to it and not yet submitted) and its recently measured time to first token (fed as
requests finish).

Deciding and claiming a tier happen under one lock (`deciding`), so a burst that arrives at
once sees the requests routed just before it, not an engine that has not received them yet.

Only TTFTs from the last WINDOW_SECONDS count: a tier that was slow a minute ago but has since
been spilled away from gets requests again once its old measurements age out, so a spill
never sticks after the burst that caused it.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, deque
from statistics import median
from typing import Any

WINDOW_SECONDS = 30.0
MAX_SAMPLES = 64


class TierLoad:
    def __init__(self, window_seconds: float = WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self._ttfts: dict[str, deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self.deciding = threading.Lock()     # held while a request picks its tier and claims it
        self._claims: Counter[str] = Counter()

    def claim(self, tier: str) -> None:
        """A request was routed to `tier`; it counts as in flight there until released."""
        with self._lock:
            self._claims[tier] += 1

    def release(self, tier: str) -> None:
        """The request reached the engine (which counts it now) or failed."""
        with self._lock:
            self._claims[tier] -= 1

    def claimed(self, tier: str) -> int:
        with self._lock:
            return self._claims[tier]

    def observe(self, tier: str, ttft: float | None) -> None:
        if ttft is None:
            return
        with self._lock:
            self._ttfts.setdefault(tier, deque(maxlen=MAX_SAMPLES)).append((time.monotonic(), ttft))

    def forget(self, tier: str | None = None) -> None:
        """Drop the measurements of `tier` (every tier when None), e.g. after reloading it."""
        with self._lock:
            if tier is None:
                self._ttfts.clear()
            else:
                self._ttfts.pop(tier, None)

    def recent_ttft(self, tier: str) -> float | None:
        """The median TTFT of the tier's requests that finished within the window, if any."""
        cutoff = time.monotonic() - self.window
        with self._lock:
            samples = [t for at, t in self._ttfts.get(tier, ()) if at >= cutoff]
        return median(samples) if samples else None


def in_flight(engine: Any) -> int:
    """Requests queued or running on the engine."""
    stats = engine.stats()
    return int(stats.running + stats.waiting)
