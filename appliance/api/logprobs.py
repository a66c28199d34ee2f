"""Engine TokenLogprobs in OpenAI's two shapes: chat (`content` list) and completions (legacy)."""
from __future__ import annotations

from engine.outputs import TokenLogprob


def _bytes(token: str) -> list[int]:
    return list(token.encode("utf-8", errors="replace"))


def chat_logprobs(items: list[TokenLogprob]) -> dict:
    return {"content": [{"token": t.token, "logprob": t.logprob, "bytes": _bytes(t.token),
                         "top_logprobs": [{"token": tok, "logprob": lp, "bytes": _bytes(tok)}
                                          for _, tok, lp in t.top]} for t in items]}


def completion_logprobs(items: list[TokenLogprob], text_offset: int = 0) -> dict:
    offsets, position = [], text_offset
    for t in items:
        offsets.append(position)
        position += len(t.token)
    return {"tokens": [t.token for t in items], "token_logprobs": [t.logprob for t in items],
            "top_logprobs": [{tok: lp for _, tok, lp in t.top} for t in items], "text_offset": offsets}
