"""The prompts of /v1/completions (their shape checked by bodies.CompletionRequest) read into
one list of token ids per prompt, with the checks that need the tier's tokenizer.

Every prompt of a batch is checked before any reaches the engine, so one bad prompt rejects
the whole request and nothing runs; the error names the prompt by its index ("prompt[2]").
"""
from __future__ import annotations

from typing import Any

from appliance.api.errors import ApiError


def prompt_batch(tokenizer: Any, vocab_size: int, prompts: list[str | list[int]]) -> list[list[int]]:
    """The token ids of each prompt; a single prompt gives one list."""
    if len(prompts) == 1:
        return [_token_ids(tokenizer, vocab_size, prompts[0], "prompt")]
    return [_token_ids(tokenizer, vocab_size, item, f"prompt[{i}]") for i, item in enumerate(prompts)]


def check_context(prompts: list[list[int]], max_tokens: int, max_model_len: int) -> None:
    """Each prompt of a batch must leave room for max_tokens in the context window."""
    for i, ids in enumerate(prompts):
        if len(ids) + max_tokens > max_model_len:
            raise ApiError(400, f"prompt[{i}] has {len(ids)} tokens and max_tokens is {max_tokens} "
                           f"({len(ids) + max_tokens} in all); this model's maximum context length is "
                           f"{max_model_len} tokens.", param="max_tokens", code="context_length_exceeded")


def _token_ids(tokenizer: Any, vocab_size: int, item: str | list[int], name: str) -> list[int]:
    """A text that tokenizes to nothing, or a token id past this tier's vocabulary, is a 400."""
    ids = list(tokenizer(item)["input_ids"]) if isinstance(item, str) else item
    if ids and all(t < vocab_size for t in ids):
        return ids
    raise ApiError(400, f"'{name}' must be a non-empty string or a non-empty array of token ids in the "
                   f"vocabulary (0..{vocab_size - 1}).", param=name, code="invalid_value")
