"""Sentence embeddings with all-MiniLM-L6-v2, the sentence-transformers recipe: the
transformer's token states, mean-pooled over the attention mask, then L2-normalised.

Loading and encoding run in short-lived threads (engine/short_thread.py), so a request thread
that embeds leaves no OpenMP team behind to slow the engines' loops."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from engine.short_thread import in_short_thread

_BATCH = 32


class EmbeddingModel:
    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not an embedding model directory (no config.json)")
        self.path = path
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = in_short_thread(lambda: AutoModel.from_pretrained(path).to(self.device).eval())
        self.max_length = _max_seq_length(path, self.tokenizer.model_max_length)
        self.dimensions = int(self.model.config.hidden_size)

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text (longer texts are cut at `max_length` tokens)."""
        return self.encode(texts).tolist()

    def encode(self, texts: list[str]) -> torch.Tensor:
        _check(texts)
        return in_short_thread(lambda: torch.cat([self._encode_batch(texts[i:i + _BATCH])
                                                  for i in range(0, len(texts), _BATCH)]), name="airlock-embed")

    def covers(self, text: str) -> bool:
        """Whether the whole of `text` fits the window, so its vector describes all of it."""
        ids = self.tokenizer(text, truncation=True, max_length=self.max_length + 1)["input_ids"]
        return len(ids) <= self.max_length

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads for `texts` (special tokens included, after truncation)."""
        _check(texts)
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        return sum(len(ids) for ids in encoded["input_ids"])

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu()


def _check(texts: list[str]) -> None:
    if not isinstance(texts, list) or not texts:
        raise ValueError("input must be a non-empty list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise ValueError(f"input[{i}] must be a non-empty string")


def _max_seq_length(path: Path, fallback: int) -> int:
    settings = path / "sentence_bert_config.json"
    if settings.is_file():
        return int(json.loads(settings.read_text()).get("max_seq_length", fallback))
    return min(fallback, 512)
