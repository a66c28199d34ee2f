"""What the routing rules read from a chat or completions request: the prompt text, its
length in the tier's tokens, and the max_tokens the client asked for (None when not given)."""
from __future__ import annotations

from typing import Any

from appliance.api.bodies import ChatRequest, CompletionRequest
from appliance.api.routed import token_count
from appliance.routing.rules import RouteInput


def chat_route_input(engine: Any, body: ChatRequest) -> RouteInput:
    text = "\n".join(m.text for m in body.messages)
    return RouteInput(text, token_count(engine, text), body.asked_max_tokens)


def completion_route_input(engine: Any, body: CompletionRequest) -> RouteInput:
    """A batch is routed by its longest prompt."""
    prompts = body.prompts
    texts = [p for p in prompts if isinstance(p, str)]
    tokens = max(token_count(engine, p) if isinstance(p, str) else len(p) for p in prompts)
    return RouteInput(max(texts, key=len) if texts else "", tokens, body.asked_max_tokens)
