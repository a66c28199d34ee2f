"""The real all-MiniLM-L6-v2 embedding model, loaded once for the caching tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from appliance.caching.embeddings import EmbeddingModel


@pytest.fixture(scope="session")
def embedder(minilm_path: Path) -> EmbeddingModel:
    return EmbeddingModel(minilm_path)
