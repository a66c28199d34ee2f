"""Chat messages -> prompt token ids through the model's own chat template."""
from __future__ import annotations

from typing import Any

from appliance.api.errors import ApiError

ROLES = ("system", "developer", "user", "assistant", "tool")


def parse_messages(raw: Any) -> list[dict[str, str]]:
    if raw is None:
        raise ApiError(400, "'messages' is required.", param="messages", code="missing_required_parameter")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty array of message objects.", param="messages",
                       code="invalid_type")
    return [_message(m, i) for i, m in enumerate(raw)]


def _message(message: Any, i: int) -> dict[str, str]:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise ApiError(400, f"'{where}' must be an object with 'role' and 'content'.", param=where,
                       code="invalid_type")
    role = message.get("role")
    if role not in ROLES:
        raise ApiError(400, f"'{where}.role' must be one of {', '.join(ROLES)}, got {role!r}.",
                       param=f"{where}.role", code="invalid_value")
    return {"role": "system" if role == "developer" else role, "content": _content(message.get("content"), where)}


def _content(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                         and isinstance(p.get("text"), str) for p in content):
        return "".join(p["text"] for p in content)
    raise ApiError(400, f"'{where}.content' must be a string or an array of text parts "
                   "({'type': 'text', 'text': ...}); other content types are not supported.",
                   param=f"{where}.content", code="invalid_type")


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception as exc:   # a template may reject a role order (e.g. two system messages)
        raise ApiError(400, f"The model's chat template rejected the messages: {exc}", param="messages",
                       code="invalid_value") from None
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
