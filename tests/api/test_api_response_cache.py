"""The response caches in the live service: deterministic answers replayed without the engine,
marked as cached in usage and ledger; tenants kept apart; TTL; runtime policy; semantic hits."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from api_support import MODEL, Live
from appliance.auth.keys import KeySpec

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
OFF = {"response_cache": False, "semantic_cache": False, "response_cache_ttl_seconds": 3600.0,
       "semantic_threshold": 0.95}


def _policy(served: Live, **changes) -> dict:
    reply = served.http().put("/admin/cache/policy", json=changes, headers=served.admin())
    assert reply.status_code == 200, reply.text
    return reply.json()[MODEL]


@pytest.fixture
def caching(served: Live) -> Iterator[Live]:
    """The exact cache on and empty for one test; everything off and flushed afterwards."""
    _policy(served, **OFF)
    _policy(served, response_cache=True)
    yield served
    _policy(served, **OFF)


def _generated(engine) -> int:
    return engine.stats().generation_tokens_total


def _ask(client, messages=QUESTION, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=messages, max_tokens=6,
                                          **{"temperature": 0, **kwargs})


def _rows(served: Live, key_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while len(rows := served.appliance.ledger.export_json(key_id=key_id)) < count:
        assert time.monotonic() < deadline, f"expected {count} ledger rows, got {len(rows)}"
        time.sleep(0.05)
    return rows


def test_repeated_greedy_chat_is_replayed_without_the_engine(caching: Live, engine) -> None:
    key, secret = caching.appliance.keys.create(KeySpec(name="repeat", tenant="acme"))
    client = caching.client(secret)
    first = _ask(client)
    before = _generated(engine)
    second = _ask(client)
    assert _generated(engine) == before                        # the engine generated nothing
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.choices[0].finish_reason == first.choices[0].finish_reason
    assert second.usage.prompt_tokens_details.cached_tokens == second.usage.prompt_tokens == first.usage.prompt_tokens
    assert second.usage.completion_tokens == first.usage.completion_tokens
    chunks = list(_ask(client, stream=True, stream_options={"include_usage": True}))
    assert _generated(engine) == before
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == first.choices[0].message.content
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == first.usage.prompt_tokens
    rows = _rows(caching, key.id, 3)
    assert [r["response_cached"] for r in rows] == [False, True, True]
    assert rows[1]["cached_tokens"] == rows[1]["prompt_tokens"]


def test_completions_replay_streamed_and_not(caching: Live, engine) -> None:
    client = caching.client()
    first = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=5, temperature=0)
    before = _generated(engine)
    again = client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=5, temperature=0)
    chunks = list(client.completions.create(model=MODEL, prompt="1, 2, 3, 4,", max_tokens=5, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    assert _generated(engine) == before
    assert again.choices[0].text == "".join(c.choices[0].text for c in chunks if c.choices) == first.choices[0].text
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens
    assert chunks[-1].usage.completion_tokens == first.usage.completion_tokens


def test_sampled_unseeded_requests_are_never_cached_but_seeded_ones_are(caching: Live, engine) -> None:
    client = caching.client()
    for _ in range(2):
        before = _generated(engine)
        _ask(client, temperature=0.8)
        assert _generated(engine) > before
    _ask(client, temperature=0.8, seed=11)
    before = _generated(engine)
    _ask(client, temperature=0.8, seed=11)
    assert _generated(engine) == before


def test_tenants_do_not_share_cached_answers(caching: Live, engine) -> None:
    client_a = caching.client(caching.key("a1", tenant="tenant-a"))
    _ask(client_a)
    before = _generated(engine)
    _ask(caching.client(caching.key("b1", tenant="tenant-b")))
    assert _generated(engine) > before                         # tenant B missed
    before = _generated(engine)
    _ask(caching.client(caching.key("a2", tenant="tenant-a")))
    assert _generated(engine) == before                        # another key of tenant A hit


def test_entries_expire_after_their_ttl(caching: Live, engine) -> None:
    _policy(caching, response_cache_ttl_seconds=0.5)
    client = caching.client()
    _ask(client)
    before = _generated(engine)
    _ask(client)
    assert _generated(engine) == before
    time.sleep(0.6)
    _ask(client)
    assert _generated(engine) > before


def test_policy_changes_apply_to_the_next_request_and_figures_show_hits(caching: Live, engine) -> None:
    client = caching.client()
    _ask(client)
    policy = _policy(caching, response_cache=False)
    assert policy["response_cache"] is False and "eviction" in policy
    before = _generated(engine)
    _ask(client)
    assert _generated(engine) > before                         # off: the engine answers
    _policy(caching, response_cache=True, response_cache_max_entries=5)
    http, admin = caching.http(), caching.admin()
    counted = http.get("/admin/cache/stats", headers=admin).json()["response"]
    scraped = _response_counters(http.get("/metrics").text)
    _ask(client)
    before = _generated(engine)
    _ask(client)
    assert _generated(engine) == before
    response = http.get("/admin/cache/stats", headers=admin).json()["response"]
    assert (response["hits"] - counted["hits"], response["misses"] - counted["misses"]) == (1, 1)
    assert 0 < response["hit_rate"] < 1 and response["entries"] == 1 and response["max_entries"] == 5
    assert http.get("/admin/stats", headers=admin).json()["response_cache"]["hit_rate"] == response["hit_rate"]
    assert _response_counters(http.get("/metrics").text) == (scraped[0] + 2, scraped[1] + 1)
    flushed = http.post("/admin/cache/flush", json={}, headers=admin).json()
    assert flushed["response_entries_flushed"] == 1


def _response_counters(metrics: str) -> tuple[int, int]:
    """(queries, hits) of the response caches in a /metrics scrape."""
    def read(stem: str) -> int:
        found = re.search(rf'^airlock:response_cache_{stem}_total{{model_name="{MODEL}"}} (\S+)', metrics, re.M)
        return int(float(found.group(1))) if found else 0
    return read("queries"), read("hits")


def test_bad_response_settings_are_refused_by_name(caching: Live) -> None:
    http, admin = caching.http(), caching.admin()
    for body, name in (({"response_cache": "yes"}, "response_cache"),
                       ({"response_cache_ttl_seconds": -1}, "response_cache_ttl_seconds"),
                       ({"response_cache_max_entries": 0}, "response_cache_max_entries"),
                       ({"semantic_threshold": 1.5}, "semantic_threshold"),
                       ({"response_cache_max_entries": 2.5}, "response_cache_max_entries")):
        reply = http.put("/admin/cache/policy", json=body, headers=admin)
        error = reply.json()["error"]
        assert reply.status_code == 400 and error["param"] == name and name in error["message"], reply.text
    assert http.get("/admin/cache/policy", headers=admin).json()[MODEL]["response_cache"] is True


@pytest.fixture
def semantic(caching: Live, minilm_path) -> Live:
    from appliance.caching.embeddings import EmbeddingModel

    if caching.appliance.embedding_model is None:
        caching.appliance.embedding_model = EmbeddingModel(minilm_path)
    _policy(caching, semantic_cache=True, semantic_threshold=0.8)
    return caching


def test_semantic_cache_answers_a_paraphrase_not_an_unrelated_question(semantic: Live, engine) -> None:
    client = semantic.client()
    first = _ask(client)
    before = _generated(engine)
    paraphrase = _ask(client, [{"role": "user", "content": "What's the capital city of France?"}])
    assert _generated(engine) == before
    assert paraphrase.choices[0].message.content == first.choices[0].message.content
    assert paraphrase.usage.prompt_tokens_details.cached_tokens == paraphrase.usage.prompt_tokens
    _ask(client, [{"role": "user", "content": "How do I bake sourdough bread at home?"}])
    assert _generated(engine) > before


def test_shipped_embedding_model_is_found_beside_the_default_model(tmp_path, minilm_path) -> None:
    from appliance.config import Config
    from appliance.models.manager import ModelManager

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "all-MiniLM-L6-v2").symlink_to(minilm_path.resolve(), target_is_directory=True)
    manager = ModelManager(Config(data_dir=str(tmp_path)))
    path = manager.ensure_embedding()
    assert path is not None and (path / "config.json").is_file()
    assert ModelManager(Config(data_dir=str(tmp_path / "empty"))).ensure_embedding() is None
