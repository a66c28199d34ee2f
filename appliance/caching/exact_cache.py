"""Exact-match cache of whole answers for deterministic requests (greedy or seeded).

Off by default. Keys come from `key(...)`: a hash of the model, the tenant (while tenants are
isolated), the messages or prompt, and the sampling parameters. Entries live `ttl_seconds`
and at most `max_entries` are kept, the least recently used going first.
"""
from __future__ import annotations

from typing import Any

from appliance.caching.answer import CachedAnswer, request_key
from appliance.caching.answer_cache import AnswerCache
from engine.sampling_params import SamplingParams


class ExactCache(AnswerCache[CachedAnswer]):
    def key(self, model: str, request: Any, params: SamplingParams, tenant: str | None = None) -> str | None:
        """None when the cache is off or the request is not deterministic."""
        if not self._config.enabled:
            return None
        return request_key(model, request, params, tenant if self._config.isolate_tenants else None)

    def get(self, key: str | None) -> CachedAnswer | None:
        if key is None or not self._config.enabled:
            return None
        answer = self._store.get(key)
        self._count_lookup(answer is not None)
        return answer

    def put(self, key: str | None, answer: CachedAnswer) -> None:
        if key is not None and self._config.enabled:
            self._store.put(key, answer, answer.nbytes)
