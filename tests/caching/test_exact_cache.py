"""Exact-match response cache: keys, hits, TTL, LRU cap, tenants, flush, threads."""
from __future__ import annotations

import threading

import pytest

from appliance.caching import CachedAnswer, ExactCache, ResponseCacheConfig
from engine.sampling_params import SamplingParams
from manual_clock import ManualClock

GREEDY = SamplingParams(temperature=0.0, max_tokens=32)
MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def answer(text: str = "4", model: str = "smollm2") -> CachedAnswer:
    return CachedAnswer(model=model, texts=[text], finish_reasons=["stop"], prompt_tokens=12, completion_tokens=1)


def cache(**config) -> ExactCache:
    return ExactCache(ResponseCacheConfig(enabled=True, **config))


def test_off_by_default() -> None:
    off = ExactCache()
    assert off.key("smollm2", MESSAGES, GREEDY) is None
    off.put("anything", answer())
    assert off.get("anything") is None and off.stats().entries == 0


def test_an_identical_request_hits_and_the_counters_say_so() -> None:
    c = cache()
    key = c.key("smollm2", MESSAGES, GREEDY)
    assert c.get(key) is None
    c.put(key, answer())
    again = c.key("smollm2", [{"role": "user", "content": "What is 2 + 2?"}], SamplingParams(temperature=0.0, max_tokens=32))
    assert again == key and c.get(again).texts == ["4"]
    stats = c.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1) and stats.hit_rate == 0.5
    assert stats.as_dict()["hit_rate"] == 0.5


@pytest.mark.parametrize("change", [
    {"model": "gemma3"},
    {"messages": [{"role": "user", "content": "What is 2 + 3?"}]},
    {"params": SamplingParams(temperature=0.0, max_tokens=33)},
    {"params": SamplingParams(temperature=0.0, max_tokens=32, stop=["\n"])},
])
def test_any_difference_in_the_request_misses(change: dict) -> None:
    c = cache()
    c.put(c.key("smollm2", MESSAGES, GREEDY), answer())
    key = c.key(change.get("model", "smollm2"), change.get("messages", MESSAGES), change.get("params", GREEDY))
    assert c.get(key) is None


def test_only_deterministic_requests_are_cached() -> None:
    c = cache()
    assert c.key("smollm2", MESSAGES, SamplingParams(temperature=0.8)) is None
    assert c.key("smollm2", MESSAGES, SamplingParams(temperature=0.8, seed=3)) is not None
    assert c.key("smollm2", MESSAGES, SamplingParams(temperature=0.0, logprobs=2)) is None


def test_entries_expire_after_the_ttl() -> None:
    clock = ManualClock()
    c = ExactCache(ResponseCacheConfig(enabled=True, ttl_seconds=60.0), clock=clock)
    key = c.key("smollm2", MESSAGES, GREEDY)
    c.put(key, answer())
    clock.advance(59.9)
    assert c.get(key) is not None
    clock.advance(0.1)
    assert c.get(key) is None
    assert c.stats().expirations == 1 and c.stats().entries == 0


def test_the_cap_evicts_the_least_recently_used() -> None:
    c = cache(max_entries=2)
    keys = [c.key("smollm2", [{"role": "user", "content": f"q{i}"}], GREEDY) for i in range(3)]
    c.put(keys[0], answer("a0"))
    c.put(keys[1], answer("a1"))
    c.get(keys[0])                                  # keys[1] is now the least recently used
    c.put(keys[2], answer("a2"))
    assert c.get(keys[1]) is None
    assert c.get(keys[0]).texts == ["a0"] and c.get(keys[2]).texts == ["a2"]
    assert c.stats().evictions == 1 and c.stats().entries == 2


def test_tenants_are_isolated_unless_sharing_is_set() -> None:
    c = cache()
    c.put(c.key("smollm2", MESSAGES, GREEDY, tenant="bank"), answer())
    assert c.get(c.key("smollm2", MESSAGES, GREEDY, tenant="hospital")) is None
    assert c.get(c.key("smollm2", MESSAGES, GREEDY, tenant="bank")) is not None
    shared = cache(isolate_tenants=False)
    shared.put(shared.key("smollm2", MESSAGES, GREEDY, tenant="bank"), answer())
    assert shared.get(shared.key("smollm2", MESSAGES, GREEDY, tenant="hospital")) is not None


def test_flush_one_model_or_all() -> None:
    c = cache()
    c.put(c.key("smollm2", MESSAGES, GREEDY), answer(model="smollm2"))
    c.put(c.key("gemma3", MESSAGES, GREEDY), answer(model="gemma3"))
    assert c.flush("gemma3") == 1
    assert c.get(c.key("gemma3", MESSAGES, GREEDY)) is None
    assert c.get(c.key("smollm2", MESSAGES, GREEDY)) is not None
    assert c.flush() == 1 and c.stats().entries == 0


def test_a_policy_change_applies_at_once() -> None:
    c = cache(max_entries=10)
    for i in range(5):
        c.put(c.key("smollm2", [{"role": "user", "content": f"q{i}"}], GREEDY), answer())
    c.configure(ResponseCacheConfig(enabled=True, max_entries=2))
    assert c.stats().entries == 2 and c.stats().max_entries == 2
    c.configure(ResponseCacheConfig(enabled=False))
    assert c.stats().entries == 0 and c.key("smollm2", MESSAGES, GREEDY) is None


@pytest.mark.parametrize("bad, message", [({"ttl_seconds": 0}, "ttl_seconds"), ({"max_entries": 0}, "max_entries"),
                                          ({"enabled": "yes"}, "enabled must be true or false"),
                                          ({"semantic_threshold": 1.5}, "semantic_threshold")])
def test_bad_settings_are_named(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResponseCacheConfig(**bad)


def test_many_threads_keep_the_counters_exact() -> None:
    c = cache(max_entries=50)
    keys = [c.key("smollm2", [{"role": "user", "content": f"q{i}"}], GREEDY) for i in range(100)]

    def work(offset: int) -> None:
        for i in range(200):
            key = keys[(i + offset) % 100]
            if c.get(key) is None:
                c.put(key, answer())

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = c.stats()
    assert stats.hits + stats.misses == 1600 and stats.entries == 50


def test_settings_come_from_the_appliance_cache_section() -> None:
    from appliance.config import CacheSettings

    settings = CacheSettings(response_cache=True, response_cache_ttl_seconds=60.0, response_cache_max_entries=5,
                           tenant_isolation=False, semantic_cache=False, semantic_threshold=0.9)
    exact = ResponseCacheConfig.from_settings(settings)
    assert (exact.enabled, exact.ttl_seconds, exact.max_entries, exact.isolate_tenants) == (True, 60.0, 5, False)
    semantic = ResponseCacheConfig.from_settings(settings, semantic=True)
    assert semantic.enabled is False and semantic.semantic_threshold == 0.9
    assert ResponseCacheConfig.from_settings(CacheSettings()).enabled is False          # off by default
