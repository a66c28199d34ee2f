"""Semantic response cache over real all-MiniLM-L6-v2 embeddings."""
from __future__ import annotations

from appliance.caching import CachedAnswer, ResponseCacheConfig
from appliance.caching.embeddings import EmbeddingModel
from appliance.caching.semantic_cache import SemanticCache, prompt_text
from engine.sampling_params import SamplingParams
from manual_clock import ManualClock

GREEDY = SamplingParams(temperature=0.0, max_tokens=64)
PARIS = CachedAnswer(model="smollm2", texts=["Paris."], finish_reasons=["stop"], prompt_tokens=20, completion_tokens=2)


def semantic(embedder: EmbeddingModel, clock: ManualClock | None = None, **config) -> SemanticCache:
    config.setdefault("semantic_threshold", 0.85)
    c = SemanticCache(embedder, ResponseCacheConfig(enabled=True, **config), clock=clock or ManualClock())
    c.store("smollm2", "What is the capital of France?", GREEDY, PARIS, tenant="bank")
    return c


def test_a_paraphrase_hits_above_the_threshold(embedder: EmbeddingModel) -> None:
    c = semantic(embedder)
    hit = c.lookup("smollm2", "Tell me the capital city of France.", GREEDY, tenant="bank")
    assert hit is not None and hit.answer.texts == ["Paris."] and 0.85 <= hit.similarity < 1.0
    assert c.stats().hits == 1


def test_an_unrelated_prompt_misses(embedder: EmbeddingModel) -> None:
    c = semantic(embedder)
    assert c.lookup("smollm2", "How do I bake sourdough bread?", GREEDY, tenant="bank") is None
    assert c.stats().misses == 1 and c.stats().hit_rate == 0.0


def test_the_threshold_decides(embedder: EmbeddingModel) -> None:
    strict = semantic(embedder, semantic_threshold=0.99)
    assert strict.lookup("smollm2", "Tell me the capital city of France.", GREEDY, tenant="bank") is None
    assert strict.lookup("smollm2", "What is the capital of France?", GREEDY, tenant="bank") is not None


def test_model_params_and_tenant_scope_the_match(embedder: EmbeddingModel) -> None:
    c = semantic(embedder)
    question = "What is the capital of France?"
    assert c.lookup("gemma3", question, GREEDY, tenant="bank") is None
    assert c.lookup("smollm2", question, SamplingParams(temperature=0.0, max_tokens=65), tenant="bank") is None
    assert c.lookup("smollm2", question, GREEDY, tenant="hospital") is None
    assert c.lookup("smollm2", question, SamplingParams(temperature=0.7), tenant="bank") is None


def test_ttl_and_cap(embedder: EmbeddingModel) -> None:
    clock = ManualClock()
    c = semantic(embedder, clock, ttl_seconds=60.0, max_entries=2)
    c.store("smollm2", "How tall is Mount Everest?", GREEDY, PARIS, tenant="bank")
    c.store("smollm2", "Who wrote Hamlet?", GREEDY, PARIS, tenant="bank")
    assert c.stats().entries == 2 and c.stats().evictions == 1
    assert c.lookup("smollm2", "What is the capital of France?", GREEDY, tenant="bank") is None
    clock.advance(59.0)
    assert c.lookup("smollm2", "Who wrote Hamlet?", GREEDY, tenant="bank") is not None
    clock.advance(1.0)
    assert c.lookup("smollm2", "Who wrote Hamlet?", GREEDY, tenant="bank") is None
    assert c.stats().entries == 0


def test_flush(embedder: EmbeddingModel) -> None:
    c = semantic(embedder)
    assert c.flush("gemma3") == 0 and c.flush("smollm2") == 1


def test_prompt_text_flattens_chat_messages() -> None:
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    assert prompt_text(messages) == "system: Be brief.\nuser: Hello"
    assert prompt_text("plain prompt") == "plain prompt"
