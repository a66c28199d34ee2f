"""The exact and semantic response caches together, under one runtime policy.

The policy is the response part of the [cache] settings (appliance.config.CacheSettings); the
admin API reads and changes it with no restart. The semantic cache is built on first use,
because it needs the embedding model.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from appliance.caching.answer import CachedAnswer, ResponseCacheConfig
from appliance.caching.exact_cache import ExactCache
from appliance.config import CacheSettings

# the [cache] settings the response caches follow (the others are each engine's prefix cache)
RESPONSE_SETTINGS = ("response_cache", "response_cache_ttl_seconds", "response_cache_max_entries",
                     "response_cache_max_bytes", "semantic_cache", "semantic_threshold", "tenant_isolation")


class PolicyError(ValueError):
    """The response caches cannot follow a setting (the semantic cache without its model)."""


class ResponseCaches:
    def __init__(self, settings: CacheSettings, embedder: Callable[[], Any]) -> None:
        self.settings = settings
        self._embedder = embedder            # () -> EmbeddingModel | None, loads on first call
        self._lock = threading.Lock()
        self.exact = ExactCache(ResponseCacheConfig.from_settings(settings))
        self.semantic: Any = None
        if settings.semantic_cache:
            self._semantic_on(ResponseCacheConfig.from_settings(settings, semantic=True))

    @property
    def active(self) -> bool:
        return self.settings.response_cache or self.settings.semantic_cache

    def configure(self, settings: CacheSettings) -> None:
        """Follow the response part of `settings` (validated by CacheSettings) from now on."""
        exact = ResponseCacheConfig.from_settings(settings)
        semantic = ResponseCacheConfig.from_settings(settings, semantic=True)
        with self._lock:
            if semantic.enabled:
                self._semantic_on(semantic)
            elif self.semantic is not None:
                self.semantic.configure(semantic)
            self.exact.configure(exact)
            for name in RESPONSE_SETTINGS:
                setattr(self.settings, name, getattr(settings, name))

    def lookup(self, query: Any) -> CachedAnswer | None:
        if self.settings.response_cache:
            answer = self.exact.get(self.exact.key(query.model, query.exact_input, query.params, query.tenant))
            if answer is not None:
                return answer
        if self.settings.semantic_cache and self.semantic is not None and query.text:
            hit = self.semantic.lookup(query.scope, query.text, query.params, query.tenant)
            return hit.answer if hit is not None else None
        return None

    def store(self, query: Any, answer: CachedAnswer) -> None:
        self.exact.put(self.exact.key(query.model, query.exact_input, query.params, query.tenant), answer)
        if self.settings.semantic_cache and self.semantic is not None and query.text:
            self.semantic.store(query.scope, query.text, query.params, answer, query.tenant)

    def flush(self, model: str | None = None) -> int:
        flushed = self.exact.flush(model)
        return flushed + (self.semantic.flush(model) if self.semantic is not None else 0)

    def stats(self) -> dict[str, Any]:
        exact = self.exact.stats().as_dict()
        semantic = self.semantic.stats().as_dict() if self.semantic is not None else None
        hits = exact["hits"] + (semantic["hits"] if semantic else 0)
        # a semantic lookup follows an exact miss, so requests asked = exact lookups, or semantic ones alone
        lookups = exact["hits"] + exact["misses"] if self.settings.response_cache else (
            semantic["hits"] + semantic["misses"] if semantic else 0)
        return {**exact, "hits": hits, "misses": max(lookups - hits, 0), "hit_rate": hits / lookups if lookups else 0.0,
                "enabled": self.active, "exact": exact, "semantic": semantic}

    def _semantic_on(self, config: ResponseCacheConfig) -> None:
        if self.semantic is None:
            embedder = self._embedder()
            if embedder is None:
                raise PolicyError("semantic_cache needs the sentence-embedding model, which is not installed")
            from appliance.caching.semantic_cache import SemanticCache

            self.semantic = SemanticCache(embedder, config)
        else:
            self.semantic.configure(config)
