"""What the exact and the semantic cache share: a store kept to a ResponseCacheConfig (TTL, LRU
cap, on/off), hit and miss counts, flushing by model, and the figures the admin API reports."""
from __future__ import annotations

import time
from typing import Generic, Protocol, TypeVar

from appliance.caching.answer import AnswerCacheStats, ResponseCacheConfig
from appliance.caching.lru import Clock, TtlLru


class _OfModel(Protocol):
    @property
    def model(self) -> str: ...


V = TypeVar("V", bound=_OfModel)


class AnswerCache(Generic[V]):
    """Base of the two caches; each decides what it keys and stores, this keeps the policy."""

    def __init__(self, config: ResponseCacheConfig | None = None, clock: Clock = time.monotonic) -> None:
        self._config = config or ResponseCacheConfig()
        self._store: TtlLru[V] = TtlLru(self._config.ttl_seconds, self._config.max_entries, self._config.max_bytes,
                                        clock)
        self._hits = 0
        self._misses = 0
        self._skipped: dict[str, int] = {}

    @property
    def config(self) -> ResponseCacheConfig:
        return self._config

    def configure(self, config: ResponseCacheConfig) -> None:
        """Applies a new policy at once; turning the cache off also empties it."""
        with self._store.lock:
            self._config = config
            self._store.resize(config.ttl_seconds, config.max_entries, config.max_bytes)
            if not config.enabled:
                self._store.remove_if(lambda _: True)

    def flush(self, model: str | None = None) -> int:
        """Drops every entry, or those of one model; returns how many went."""
        return self._store.remove_if(lambda entry: model is None or entry.model == model)

    def stats(self) -> AnswerCacheStats:
        with self._store.lock:
            return AnswerCacheStats(self._config.enabled, len(self._store), self._config.max_entries,
                              self._hits, self._misses, self._store.evictions, self._store.expirations,
                              self._store.bytes, self._config.max_bytes, dict(self._skipped))

    def _count_skip(self, reason: str) -> None:
        with self._store.lock:
            self._skipped[reason] = self._skipped.get(reason, 0) + 1

    def _count_lookup(self, hit: bool) -> None:
        with self._store.lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1
