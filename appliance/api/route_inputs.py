"""What the routing rules read from a chat or completions request: the prompt text, its
length in the tier's tokens, and the max_tokens the client asked for (None when not given)."""
from __future__ import annotations

from typing import Any

from appliance.api.fields import Fields
from appliance.api.routed import token_count
from appliance.routing.rules import RouteInput


def chat_route_input(engine: Any, messages: list[dict], body: Fields) -> RouteInput:
    text = "\n".join(_content_text(m.get("content")) for m in messages)
    asked = body.integer("max_completion_tokens")
    return RouteInput(text, token_count(engine, text), asked if asked is not None else body.integer("max_tokens"))


def completion_route_input(engine: Any, body: Fields) -> RouteInput:
    prompt = body.data.get("prompt")
    if isinstance(prompt, str):
        text, tokens = prompt, token_count(engine, prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        text = max(prompt, key=len)
        tokens = max(token_count(engine, p) for p in prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        text, tokens = "", len(prompt)
    elif isinstance(prompt, list) and prompt and all(isinstance(p, list) for p in prompt):
        text, tokens = "", max(len(p) for p in prompt)
    else:
        text, tokens = "", 0          # malformed: the tier's own prompt check answers with the 400
    return RouteInput(text, tokens, body.integer("max_tokens"))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
