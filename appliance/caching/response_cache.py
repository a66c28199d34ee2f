"""Exact-match cache of whole answers for deterministic requests (greedy or seeded).

Off by default. Keys come from `key(...)`: a hash of the model, the tenant (while tenants are
isolated), the messages or prompt, and the sampling parameters. Entries live `ttl_seconds`
and at most `max_entries` are kept, the least recently used going first.
"""
from __future__ import annotations

from typing import Any

from appliance.caching.answer import CachedAnswer, CacheStats, ResponseCacheConfig, request_key
from appliance.caching.lru import TtlLru
from engine.sampling_params import SamplingParams


class ResponseCache:
    def __init__(self, config: ResponseCacheConfig | None = None) -> None:
        self._config = config or ResponseCacheConfig()
        self._store: TtlLru[CachedAnswer] = TtlLru(self._config.ttl_seconds, self._config.max_entries)
        self._hits = 0
        self._misses = 0

    @property
    def config(self) -> ResponseCacheConfig:
        return self._config

    def configure(self, config: ResponseCacheConfig) -> None:
        """Applies a new policy at once; turning the cache off also empties it."""
        with self._store.lock:
            self._config = config
            self._store.resize(config.ttl_seconds, config.max_entries)
            if not config.enabled:
                self._store.remove_if(lambda _: True)

    def key(self, model: str, request: Any, params: SamplingParams, tenant: str | None = None) -> str | None:
        """None when the cache is off or the request is not deterministic."""
        if not self._config.enabled:
            return None
        return request_key(model, request, params, tenant if self._config.isolate_tenants else None)

    def get(self, key: str | None) -> CachedAnswer | None:
        if key is None or not self._config.enabled:
            return None
        answer = self._store.get(key)
        with self._store.lock:
            if answer is None:
                self._misses += 1
            else:
                self._hits += 1
        return answer

    def put(self, key: str | None, answer: CachedAnswer) -> None:
        if key is not None and self._config.enabled:
            self._store.put(key, answer)

    def flush(self, model: str | None = None) -> int:
        """Drops every entry, or those of one model; returns how many went."""
        return self._store.remove_if(lambda a: model is None or a.model == model)

    def stats(self) -> CacheStats:
        with self._store.lock:
            return CacheStats(self._config.enabled, len(self._store), self._config.max_entries,
                              self._hits, self._misses, self._store.evictions, self._store.expirations)
