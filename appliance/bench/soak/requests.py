"""One request of each kind the soak sends, through the official `openai` client or httpx.

Each function sends one request and returns its Attempt (see tally.py); none raises for an
HTTP error or a broken connection, both are recorded on the Attempt instead.
"""
from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import openai

from appliance.bench.soak.tally import Attempt

PROMPTS = ("Name three colours.", "What is a lighthouse?", "Count from one to five.",
           "Write one sentence about the sea.", "Say hello in French.", "What is two plus two?")
EMBED_TEXT = "The quick brown fox jumps over the lazy dog."


@dataclass(slots=True, frozen=True)
class Target:
    """What every request of one client needs: the model names and its key."""
    model: str
    embedding_model: str
    key_name: str
    max_tokens: int


@contextmanager
def recorded(attempt: Attempt) -> Iterator[Attempt]:
    """Fill in the attempt's status, error code and end time from what the call raised."""
    try:
        yield attempt
    except openai.APIStatusError as exc:
        attempt.status, attempt.error_code = exc.status_code, str(exc.code or "")
    except openai.APITimeoutError:
        attempt.cut, attempt.error_code = True, "timeout"
    except (openai.APIConnectionError, httpx.TransportError):
        attempt.cut = True
    finally:
        attempt.ended = time.monotonic()


def _usage(attempt: Attempt, usage) -> None:
    attempt.prompt_tokens = usage.prompt_tokens
    attempt.completion_tokens = getattr(usage, "completion_tokens", 0) or 0
    attempt.completed = True


def _messages(rng: random.Random) -> list[dict]:
    return [{"role": "user", "content": rng.choice(PROMPTS)}]


def chat(client: openai.OpenAI, target: Target, rng: random.Random, kind: str = "chat") -> Attempt:
    with recorded(Attempt(kind, target.key_name, time.monotonic())) as attempt:
        reply = client.chat.completions.create(model=target.model, messages=_messages(rng),
                                               max_tokens=target.max_tokens)
        attempt.status, attempt.accepted, attempt.ids = 200, True, (reply.id,)
        _usage(attempt, reply.usage)
    return attempt


def chat_stream(client: openai.OpenAI, target: Target, rng: random.Random) -> Attempt:
    with recorded(Attempt("chat_stream", target.key_name, time.monotonic())) as attempt:
        stream = client.chat.completions.create(model=target.model, messages=_messages(rng), stream=True,
                                                max_tokens=target.max_tokens, stream_options={"include_usage": True})
        attempt.status, attempt.accepted = 200, True
        for chunk in stream:
            attempt.ids = (chunk.id,)
            if chunk.usage:
                _usage(attempt, chunk.usage)
    return attempt


def disconnect(client: openai.OpenAI, target: Target, rng: random.Random) -> Attempt:
    """A stream of up to 200 tokens that the client closes after its second chunk."""
    with recorded(Attempt("disconnect", target.key_name, time.monotonic())) as attempt:
        stream = client.chat.completions.create(model=target.model, messages=_messages(rng), stream=True,
                                                max_tokens=200, extra_body={"ignore_eos": True})
        attempt.status, attempt.accepted = 200, True
        for i, chunk in enumerate(stream):
            attempt.ids = (chunk.id,)
            if i == 1:
                break
        stream.close()
    return attempt


def batch(client: openai.OpenAI, target: Target, rng: random.Random, prompts: int = 3, n: int = 1,
          kind: str = "batch") -> Attempt:
    """One /v1/completions request with a list of prompts (one ledger row per prompt), streamed
    or not at random."""
    with recorded(Attempt(kind, target.key_name, time.monotonic())) as attempt:
        request = {"model": target.model, "prompt": rng.sample(PROMPTS, prompts), "n": n,
                   "max_tokens": target.max_tokens // 2}
        if rng.random() < 0.5:
            _batch_stream(client.completions.create(**request, stream=True, stream_options={"include_usage": True}),
                          attempt, prompts)
        else:
            reply = client.completions.create(**request)
            attempt.status, attempt.accepted = 200, True
            attempt.ids = tuple(f"{reply.id}-{i}" for i in range(prompts))
            _usage(attempt, reply.usage)
    return attempt


def _batch_stream(stream, attempt: Attempt, prompts: int) -> None:
    attempt.status, attempt.accepted = 200, True
    for chunk in stream:
        attempt.ids = tuple(f"{chunk.id}-{i}" for i in range(prompts))
        if chunk.usage:
            _usage(attempt, chunk.usage)


def embed(client: openai.OpenAI, target: Target, rng: random.Random) -> Attempt:
    """The same text every time, so each ledger row must bill the same token count."""
    with recorded(Attempt("embed", target.key_name, time.monotonic())) as attempt:
        reply = client.embeddings.create(model=target.embedding_model, input=[EMBED_TEXT])
        attempt.status, attempt.accepted = 200, True
        _usage(attempt, reply.usage)
    return attempt


def budget(client: openai.OpenAI, target: Target, rng: random.Random) -> Attempt:
    """A chat, or a batch of 2 prompts x n=2, on the key with a small token budget: answered
    until the budget is spent, then 429."""
    if rng.random() < 0.5:
        return chat(client, target, rng, kind="budget")
    return batch(client, target, rng, prompts=2, n=2, kind="budget")
