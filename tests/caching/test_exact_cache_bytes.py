"""The response caches are capped by bytes as well as by entries."""
from __future__ import annotations

import pytest

from appliance.caching import CachedAnswer, ExactCache, ResponseCacheConfig
from engine.sampling_params import SamplingParams

GREEDY = SamplingParams(temperature=0.0, max_tokens=32)


def _put(cache: ExactCache, i: int, size: int) -> str:
    key = cache.key("smollm2", [{"role": "user", "content": f"q{i}"}], GREEDY)
    cache.put(key, CachedAnswer(model="smollm2", texts=["x" * size], finish_reasons=["length"],
                                prompt_tokens=5, completion_tokens=size))
    return key


def test_the_byte_cap_evicts_the_least_recently_used() -> None:
    cache = ExactCache(ResponseCacheConfig(enabled=True, max_entries=1000, max_bytes=100_000))
    keys = [_put(cache, i, 30_000) for i in range(3)]
    assert cache.get(keys[0]) is not None                 # keys[1] is now the least recently used
    keys.append(_put(cache, 3, 30_000))
    stats = cache.stats()
    assert stats.entries == 3 and stats.evictions == 1 and cache.get(keys[1]) is None
    assert 90_000 < stats.bytes <= stats.max_bytes == 100_000
    assert _put(cache, 4, 200_000) and cache.stats().entries == 3      # larger than the cap: not kept
    cache.configure(ResponseCacheConfig(enabled=True, max_entries=1000, max_bytes=40_000))
    assert cache.stats().entries == 1 and cache.stats().bytes <= 40_000
    assert cache.flush() == 1 and cache.stats().bytes == 0


def test_the_byte_cap_comes_from_the_settings_and_is_checked() -> None:
    from appliance.config import CacheSettings

    assert ResponseCacheConfig.from_settings(CacheSettings(response_cache_max_bytes=1234)).max_bytes == 1234
    assert ResponseCacheConfig.from_settings(CacheSettings()).max_bytes == 256 * 1024**2
    with pytest.raises(ValueError, match="max_bytes must be at least 1"):
        ResponseCacheConfig(max_bytes=0)
