"""The semantic cache never answers for text its embedding did not cover (real MiniLM)."""
from __future__ import annotations

from appliance.caching import CachedAnswer, ResponseCacheConfig
from appliance.caching.embeddings import EmbeddingModel
from appliance.caching.semantic_cache import SemanticCache
from engine.sampling_params import SamplingParams

GREEDY = SamplingParams(temperature=0.0, max_tokens=64)
SHARED = "Here is our contract, clause by clause. " + " ".join(f"Clause {i} says the supplier delivers item {i}."
                                                                  for i in range(60))


def _answer(text: str) -> CachedAnswer:
    return CachedAnswer(model="smollm2", texts=[text], finish_reasons=["stop"], prompt_tokens=900, completion_tokens=3)


def test_long_prompts_that_differ_past_the_window_do_not_share_an_answer(embedder: EmbeddingModel) -> None:
    first, second = SHARED + " Question: may we terminate early?", SHARED + " Question: who pays shipping?"
    assert len(embedder.tokenizer(first)["input_ids"]) > embedder.max_length   # the premise: past the window
    assert embedder.encode([first, second]).matmul(embedder.encode([second])[0]).min() > 0.999  # same vector
    assert not embedder.covers(first) and embedder.covers("What is the capital of France?")
    cache = SemanticCache(embedder, ResponseCacheConfig(enabled=True, semantic_threshold=0.95))
    cache.store("smollm2", first, GREEDY, _answer("Yes, with notice."))
    assert cache.lookup("smollm2", second, GREEDY) is None
    stats = cache.stats()
    assert stats.entries == 0 and stats.skipped == {"prompt_too_long": 1}
    assert (stats.hits, stats.misses) == (0, 0)
    cache.store("smollm2", "What is the capital of France?", GREEDY, _answer("Paris."))
    assert cache.lookup("smollm2", "What is the capital of France?", GREEDY).answer.texts == ["Paris."]
