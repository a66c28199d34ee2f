"""Chat messages -> prompt token ids through the model's own chat template."""
from __future__ import annotations

from typing import Any

from appliance.api.errors import ApiError


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as exc:   # a template may reject a role order (e.g. two system messages)
        raise ApiError(400, f"The model's chat template rejected the messages: {exc}", param="messages",
                       code="invalid_value") from None
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
