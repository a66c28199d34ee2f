"""Near-duplicate answer cache: a deterministic request whose prompt embeds within the cosine
`semantic_threshold` of a cached prompt (same model, same sampling parameters, same tenant
while tenants are isolated) gets that prompt's answer. Same TTL and LRU cap as the exact cache.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import torch

from appliance.caching.answer import CachedAnswer, ResponseCacheConfig, cacheable, params_fingerprint
from appliance.caching.answer_cache import AnswerCache
from appliance.caching.embeddings import EmbeddingModel
from appliance.caching.lru import Clock
from engine.sampling_params import SamplingParams


@dataclass(slots=True)
class _Entry:
    scope: str
    vector: torch.Tensor
    answer: CachedAnswer

    @property
    def model(self) -> str:
        return self.answer.model


@dataclass(slots=True)
class SemanticHit:
    answer: CachedAnswer
    similarity: float


class SemanticCache(AnswerCache[_Entry]):
    def __init__(self, embedder: EmbeddingModel, config: ResponseCacheConfig | None = None,
                 clock: Clock = time.monotonic) -> None:
        super().__init__(config, clock)
        self._embedder = embedder
        self._next_id = 0

    def lookup(self, model: str, prompt: str, params: SamplingParams, tenant: str | None = None) -> SemanticHit | None:
        """The cached answer of the most similar prompt at or above the threshold, if any."""
        if not self._config.enabled or not cacheable(params):
            return None
        hit = self._nearest(self._scope(model, params, tenant), self._embedder.encode([prompt])[0])
        self._count_lookup(hit is not None)
        return hit

    def store(self, model: str, prompt: str, params: SamplingParams, answer: CachedAnswer,
              tenant: str | None = None) -> None:
        if not self._config.enabled or not cacheable(params):
            return
        entry = _Entry(self._scope(model, params, tenant), self._embedder.encode([prompt])[0], answer)
        with self._store.lock:
            self._next_id += 1
            self._store.put(str(self._next_id), entry)

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
