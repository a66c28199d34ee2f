"""Prefix caching through the engine on the real SmolLM2: same output, exact cached tokens, policies."""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from engine.config import CachePolicy, EngineConfig
from engine.llm_engine import Engine
from engine.sampling_params import SamplingParams

SYSTEM = ("You are the help desk of a hospital. Answer briefly and politely, never give a diagnosis, "
          "and point patients to the front desk for appointments.")
QUESTIONS = [" Where do I park?", " When is the cafeteria open today?", " Can I visit my mother after eight?"]
PARAMS = SamplingParams(max_tokens=6, temperature=0.0)


@pytest.fixture(scope="module")
def engine(smollm2_model: Any) -> Iterator[Engine]:
    engine = Engine(smollm2_model, EngineConfig(kv_cache_bytes=32 * 2**20))
    yield engine
    engine.shutdown()


@pytest.fixture(scope="module")
def prompts(smollm2_model: Any) -> tuple[list[int], list[list[int]]]:
    tokenizer = smollm2_model.tokenizer
    system = tokenizer(SYSTEM)["input_ids"]
    return system, [system + tokenizer(q, add_special_tokens=False)["input_ids"] for q in QUESTIONS]


def run(engine: Engine, prompt: list[int], tenant: str | None = None) -> tuple[list[int], int]:
    stream = engine.submit(prompt, PARAMS, tenant=tenant)
    return stream.collect()[0].token_ids, stream.metrics.cached_tokens


def full_blocks(num_tokens: int) -> int:
    return num_tokens // 16 * 16


def test_on_and_off_give_the_same_output_and_exact_cached_tokens(engine: Engine, prompts: Any) -> None:
    system, questions = prompts
    engine.flush_prefix_cache()
    engine.set_cache_policy(CachePolicy(enabled=False))
    before = engine.stats().cache
    uncached = [run(engine, q) for q in questions]
    assert [c for _, c in uncached] == [0, 0, 0]
    engine.set_cache_policy(CachePolicy(enabled=True))
    cached = [run(engine, q) for q in questions]
    assert [t for t, _ in cached] == [t for t, _ in uncached]
    shared = full_blocks(len(system))
    assert [c for _, c in cached] == [0, shared, shared]
    stats = engine.stats().cache
    assert stats.hits_tokens - before.hits_tokens == 2 * shared
    assert stats.queries_tokens - before.queries_tokens == sum(len(q) for q in questions)
    again, hit = run(engine, questions[0])          # the whole prompt but its last token
    assert again == cached[0][0] and hit == full_blocks(len(questions[0]) - 1)


def test_tenant_isolation_and_policy_change_on_the_next_request(engine: Engine, prompts: Any) -> None:
    _, questions = prompts
    engine.set_cache_policy(CachePolicy(tenant_isolation=True))
    engine.flush_prefix_cache()
    run(engine, questions[1], tenant="alpha")
    assert run(engine, questions[1], tenant="beta")[1] == 0
    assert run(engine, questions[1], tenant="alpha")[1] > 0
    engine.set_cache_policy(CachePolicy(tenant_isolation=False))
    run(engine, questions[2], tenant="alpha")
    assert run(engine, questions[2], tenant="beta")[1] == full_blocks(len(questions[2]) - 1)
    engine.set_cache_policy(CachePolicy(enabled=False))
    assert run(engine, questions[2], tenant="beta")[1] == 0
    engine.set_cache_policy(CachePolicy())


def test_pinned_prefix_is_computed_kept_and_released(engine: Engine, prompts: Any) -> None:
    system, questions = prompts
    engine.flush_prefix_cache()
    pin = engine.pin_prefix(system, ttl_seconds=600)
    deadline = time.monotonic() + 60
    while engine.pins()[0]["cached_blocks"] < len(system) // 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.pins()[0]["blocks"] == engine.pins()[0]["cached_blocks"] == len(system) // 16
    assert engine.flush_prefix_cache() == 0         # only pinned blocks are cached: flush keeps them
    assert run(engine, questions[0])[1] == full_blocks(len(system))
    assert engine.stats().cache.pinned_blocks == len(system) // 16
    assert engine.unpin(pin.pin_id) and engine.pins() == []
    assert engine.flush_prefix_cache() > 0
    assert run(engine, questions[0])[1] == 0
