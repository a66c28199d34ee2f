"""all-MiniLM-L6-v2 embeddings reproduce sentence-transformers' published figures."""
from __future__ import annotations

import pytest
import torch

from appliance.caching.embeddings import EmbeddingModel


def cosines(embedder: EmbeddingModel, texts: list[str]) -> torch.Tensor:
    vectors = torch.tensor(embedder.embed(texts))
    return vectors @ vectors.T


def test_the_sentence_transformers_quickstart_similarities(embedder: EmbeddingModel) -> None:
    # sentence-transformers' README prints these for all-MiniLM-L6-v2: 0.6660, 0.1046, 0.1411
    sims = cosines(embedder, ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert sims[0, 1].item() == pytest.approx(0.6660, abs=2e-3)
    assert sims[0, 2].item() == pytest.approx(0.1046, abs=2e-3)
    assert sims[1, 2].item() == pytest.approx(0.1411, abs=2e-3)


def test_similar_sentences_score_above_unrelated_ones(embedder: EmbeddingModel) -> None:
    sims = cosines(embedder, ["A man is eating pasta.", "A man is eating food.", "A man is riding a horse."])
    assert sims[0, 1] > 0.6 > 0.3 > sims[0, 2]


def test_vectors_are_unit_length_and_independent_of_batch_padding(embedder: EmbeddingModel) -> None:
    alone = torch.tensor(embedder.embed(["Hi"]))[0]
    padded = torch.tensor(embedder.embed(["Hi", "a much longer sentence that forces padding of the short one"]))[0]
    assert alone.shape == (384,) and embedder.dimensions == 384
    assert alone.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(alone, padded, atol=1e-5)


def test_token_counts_include_special_tokens_and_truncate(embedder: EmbeddingModel) -> None:
    assert embedder.count_tokens(["hello world"]) == 4                 # [CLS] hello world [SEP]
    assert embedder.count_tokens(["hello world", "hi"]) == 7
    assert embedder.count_tokens(["word " * 1000]) == embedder.max_length == 256


@pytest.mark.parametrize("bad, message", [([], "non-empty list"), (["ok", ""], r"input\[1\]"), ([3], r"input\[0\]")])
def test_bad_input_is_named(embedder: EmbeddingModel, bad: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        embedder.embed(bad)


def test_a_directory_without_a_model_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not an embedding model directory"):
        EmbeddingModel(tmp_path)
