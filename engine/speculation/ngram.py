"""Prompt lookup: draft the continuation of the latest earlier occurrence of the last n tokens.

Answers that copy from their input (summaries, extraction, code edits, RAG) repeat long runs
of the prompt; when the last n generated tokens occurred before, the tokens that followed
them are a good guess for what comes next. Costs no model, only a search.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

SEARCH_WINDOW = 8192        # tokens searched back from the end; bounds the cost per step


class NgramProposer:
    def __init__(self, ngram_min: int, ngram_max: int) -> None:
        if not 1 <= ngram_min <= ngram_max:
            raise ValueError(f"need 1 <= ngram_min <= ngram_max, got {ngram_min} and {ngram_max}")
        self.ngram_min = ngram_min
        self.ngram_max = ngram_max

    def propose(self, token_ids: list[int], k: int) -> list[int]:
        if k < 1:
            return []
        tokens = np.asarray(token_ids[-SEARCH_WINDOW:], dtype=np.int64)
        for n in range(min(self.ngram_max, len(tokens) - 1), self.ngram_min - 1, -1):
            start = _latest_match(tokens, n)
            if start is not None:
                return tokens[start:start + k].tolist()
        return []


def _latest_match(tokens: np.ndarray, n: int) -> int | None:
    """Index just past the latest earlier occurrence of the last n tokens, or None.

    Occurrences must end before the last token, so at least one token follows them."""
    windows = sliding_window_view(tokens[:-1], n)
    hits = np.flatnonzero((windows == tokens[-n:]).all(axis=1))
    return int(hits[-1]) + n if hits.size else None
