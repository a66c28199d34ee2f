"""The `prompt` of /v1/completions, in OpenAI's four forms: a string, an array of strings, an
array of token ids, or an array of token-id arrays; read into one list of token ids per prompt.

Every prompt of a batch is checked before any reaches the engine, so one bad prompt rejects
the whole request and nothing runs; the error names the prompt by its index ("prompt[2]").
"""
from __future__ import annotations

from typing import Any

from appliance.api.errors import ApiError

MAX_PROMPTS = 64


def prompt_batch(tokenizer: Any, vocab_size: int, prompt: Any) -> list[list[int]]:
    """The token ids of each prompt; a single prompt (or a one-element array) gives one list."""
    if prompt is None:
        raise ApiError(400, "'prompt' is required.", param="prompt", code="missing_required_parameter")
    items = prompt if _is_batch(prompt) else [prompt]
    if len(items) > MAX_PROMPTS:
        raise ApiError(400, f"'prompt' may hold at most {MAX_PROMPTS} prompts, got {len(items)}.",
                       param="prompt", code="invalid_value")
    if len(items) == 1:
        return [_token_ids(tokenizer, vocab_size, items[0], "prompt")]
    return [_token_ids(tokenizer, vocab_size, item, f"prompt[{i}]") for i, item in enumerate(items)]


def check_context(prompts: list[list[int]], max_tokens: int, max_model_len: int) -> None:
    """Each prompt of a batch must leave room for max_tokens in the context window."""
    for i, ids in enumerate(prompts):
        if len(ids) + max_tokens > max_model_len:
            raise ApiError(400, f"prompt[{i}] has {len(ids)} tokens and max_tokens is {max_tokens} "
                           f"({len(ids) + max_tokens} in all); this model's maximum context length is "
                           f"{max_model_len} tokens.", param="max_tokens", code="context_length_exceeded")


def _is_batch(prompt: Any) -> bool:
    """An array whose elements are prompts themselves (strings or token-id arrays)."""
    return isinstance(prompt, list) and bool(prompt) and all(isinstance(p, (str, list)) for p in prompt)


def _token_ids(tokenizer: Any, vocab_size: int, item: Any, name: str) -> list[int]:
    if isinstance(item, str) and item:
        ids = list(tokenizer(item)["input_ids"])
        if ids:
            return ids
    if isinstance(item, list) and item and all(_in_vocabulary(t, vocab_size) for t in item):
        return list(item)
    raise ApiError(400, f"'{name}' must be a non-empty string or a non-empty array of token ids in the "
                   f"vocabulary (0..{vocab_size - 1}); 'prompt' may also be an array of such prompts.",
                   param=name, code="invalid_value")


def _in_vocabulary(token: Any, vocab_size: int) -> bool:
    return isinstance(token, int) and not isinstance(token, bool) and 0 <= token < vocab_size
