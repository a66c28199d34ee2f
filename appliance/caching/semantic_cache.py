"""Near-duplicate answer cache: a deterministic request whose prompt embeds within the cosine
`semantic_threshold` of a cached prompt (same model, same sampling parameters, same tenant
while tenants are isolated) gets that prompt's answer. Same TTL and LRU cap as the exact cache.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import torch

from appliance.caching.answer import CachedAnswer, CacheStats, ResponseCacheConfig, cacheable, params_fingerprint
from appliance.caching.embeddings import EmbeddingModel
from appliance.caching.lru import TtlLru
from engine.sampling_params import SamplingParams


@dataclass(slots=True)
class _Entry:
    scope: str
    vector: torch.Tensor
    answer: CachedAnswer


@dataclass(slots=True)
class SemanticHit:
    answer: CachedAnswer
    similarity: float


class SemanticCache:
    def __init__(self, embedder: EmbeddingModel, config: ResponseCacheConfig | None = None) -> None:
        self._embedder = embedder
        self._config = config or ResponseCacheConfig()
        self._store: TtlLru[_Entry] = TtlLru(self._config.ttl_seconds, self._config.max_entries)
        self._hits = 0
        self._misses = 0
        self._next_id = 0

    @property
    def config(self) -> ResponseCacheConfig:
        return self._config

    def configure(self, config: ResponseCacheConfig) -> None:
        with self._store.lock:
            self._config = config
            self._store.resize(config.ttl_seconds, config.max_entries)
            if not config.enabled:
                self._store.remove_if(lambda _: True)

    def lookup(self, model: str, prompt: str, params: SamplingParams, tenant: str | None = None) -> SemanticHit | None:
        """The cached answer of the most similar prompt at or above the threshold, if any."""
        if not self._config.enabled or not cacheable(params):
            return None
        hit = self._nearest(self._scope(model, params, tenant), self._embedder.encode([prompt])[0])
        with self._store.lock:
            self._hits, self._misses = self._hits + (hit is not None), self._misses + (hit is None)
        return hit

    def store(self, model: str, prompt: str, params: SamplingParams, answer: CachedAnswer,
              tenant: str | None = None) -> None:
        if not self._config.enabled or not cacheable(params):
            return
        entry = _Entry(self._scope(model, params, tenant), self._embedder.encode([prompt])[0], answer)
        with self._store.lock:
            self._next_id += 1
            self._store.put(str(self._next_id), entry)

    def flush(self, model: str | None = None) -> int:
        return self._store.remove_if(lambda e: model is None or e.answer.model == model)

    def stats(self) -> CacheStats:
        with self._store.lock:
            return CacheStats(self._config.enabled, len(self._store), self._config.max_entries,
                              self._hits, self._misses, self._store.evictions, self._store.expirations)

    def _nearest(self, scope: str, vector: torch.Tensor) -> SemanticHit | None:
        with self._store.lock:
            candidates = [(key, e) for key, e in self._store.live_items() if e.scope == scope]
            if not candidates:
                return None
            similarities = torch.stack([e.vector for _, e in candidates]) @ vector
            best = int(similarities.argmax())
            if similarities[best] < self._config.semantic_threshold:
                return None
            key, entry = candidates[best]
            self._store.get(key)                     # counts as a use for the LRU order
            return SemanticHit(entry.answer, float(similarities[best]))

    def _scope(self, model: str, params: SamplingParams, tenant: str | None) -> str:
        material = {"model": model, "params": params_fingerprint(params),
                    "tenant": tenant if self._config.isolate_tenants else None}
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def prompt_text(request: Any) -> str:
    """The text a request is embedded by: a prompt string, or chat messages as 'role: content' lines."""
    if isinstance(request, str):
        return request
    lines = []
    for message in request:
        content = message.get("content") or ""
        if isinstance(content, list):             # content parts: keep the text ones
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        lines.append(f"{message.get('role', 'user')}: {content}")
    return "\n".join(lines)
