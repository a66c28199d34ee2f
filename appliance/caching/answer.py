"""What the response caches store, how a request is keyed, and their shared settings."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.sampling_params import SamplingParams


@dataclass(slots=True)
class CachedAnswer:
    """A whole answer: one text and finish reason per choice, and the usage it cost."""
    model: str
    texts: list[str]
    finish_reasons: list[str | None]
    prompt_tokens: int
    completion_tokens: int
    created: float = field(default_factory=time.time)

    @property
    def nbytes(self) -> int:
        """About what it holds in memory: its texts, plus a fixed cost per choice."""
        return sum(len(text.encode()) for text in self.texts) + 200 * (len(self.texts) + 1)


@dataclass(slots=True)
class ResponseCacheConfig:
    enabled: bool = False
    ttl_seconds: float = 3600.0
    max_entries: int = 10000
    isolate_tenants: bool = True
    semantic_threshold: float = 0.95     # cosine similarity; used by the semantic cache only
    max_bytes: int = 256 * 1024**2       # total size of the kept answers; the LRU ones go first

    def __post_init__(self) -> None:
        for name in ("enabled", "isolate_tenants"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not self.ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be positive, got {self.ttl_seconds}")
        if self.max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {self.max_entries}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {self.max_bytes}")
        if not 0.0 < self.semantic_threshold <= 1.0:
            raise ValueError(f"semantic_threshold must be in (0, 1], got {self.semantic_threshold}")

    @classmethod
    def from_settings(cls, cache: Any, semantic: bool = False) -> ResponseCacheConfig:
        """From the appliance's [cache] settings (appliance.config.CacheSettings); `semantic`
        picks the semantic cache's on/off switch instead of the exact one's."""
        return cls(enabled=bool(cache.semantic_cache if semantic else cache.response_cache),
                   ttl_seconds=float(cache.response_cache_ttl_seconds),
                   max_entries=int(cache.response_cache_max_entries),
                   isolate_tenants=bool(cache.tenant_isolation),
                   semantic_threshold=float(cache.semantic_threshold),
                   max_bytes=int(cache.response_cache_max_bytes))


@dataclass(slots=True)
class AnswerCacheStats:
    enabled: bool
    entries: int
    max_entries: int
    hits: int
    misses: int
    evictions: int
    expirations: int
    bytes: int = 0
    max_bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)   # requests not cached, by reason

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hit_rate": self.hit_rate}


def cacheable(params: SamplingParams) -> bool:
    """Only a deterministic request (greedy or seeded) and no logprobs has one right answer to keep."""
    return params.deterministic and params.logprobs is None


def params_fingerprint(params: SamplingParams) -> dict[str, Any]:
    return asdict(params)


def request_key(model: str, request: Any, params: SamplingParams, tenant: str | None = None) -> str | None:
    """The exact-match key: a hash of the model, the tenant (None when tenants share), the
    messages or prompt, and the sampling parameters. None when the request is not cacheable."""
    if not cacheable(params):
        return None
    material = {"model": model, "tenant": tenant, "input": request, "params": params_fingerprint(params)}
    blob = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
