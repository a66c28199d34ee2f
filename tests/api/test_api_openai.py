"""The OpenAI endpoints through the official client: chat and completions, streamed and not."""
from __future__ import annotations

import pytest

from api_support import MODEL

FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(served):
    return served.client()


def test_models_lists_the_loaded_model(client) -> None:
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL


def test_chat_greedy_answer_and_usage(client) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=20, temperature=0)
    choice = reply.choices[0]
    assert "Paris" in choice.message.content and choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    usage = reply.usage
    assert usage.prompt_tokens > 20 and 1 <= usage.completion_tokens <= 20
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens >= 0


def test_repeated_prompt_reports_cached_tokens(client) -> None:
    messages = [{"role": "system", "content": "You are a terse assistant. " * 8}, *FRANCE]
    client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2, temperature=0)
    again = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2, temperature=0)
    assert again.usage.prompt_tokens_details.cached_tokens >= 32


def test_chat_stream_with_usage_matches_non_streamed(client) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=12, temperature=0)
    chunks = list(client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=12, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_without_usage(client) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=3, temperature=0,
                                                 stream=True))
    assert all(c.choices for c in chunks) and all(getattr(c, "usage", None) is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_completions_greedy_stop_and_logprobs(client) -> None:
    reply = client.completions.create(model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=30, temperature=0,
                                      stop=[" 8"], logprobs=2)
    choice = reply.choices[0]
    assert choice.text == " 6, 7," and choice.finish_reason == "stop"
    assert len(choice.logprobs.tokens) == reply.usage.completion_tokens
    assert all(len(top) == 3 or len(top) == 2 for top in choice.logprobs.top_logprobs)
    assert all(lp <= 0 for lp in choice.logprobs.token_logprobs)


def test_completions_stream(client) -> None:
    chunks = list(client.completions.create(model=MODEL, prompt="1, 2, 3, 4, 5,", max_tokens=4, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices).startswith(" 6,")
    assert chunks[-1].usage.completion_tokens == 4 and chunks[-2].choices[0].finish_reason == "length"


def test_n_choices_with_seed(client) -> None:
    kwargs = dict(model=MODEL, messages=[{"role": "user", "content": "Name a fruit."}], max_tokens=8,
                  temperature=1.0, seed=7, n=3)
    first = client.chat.completions.create(**kwargs)
    second = client.chat.completions.create(**kwargs)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert [c.message.content for c in first.choices] == [c.message.content for c in second.choices]
    assert len({c.message.content for c in first.choices}) > 1   # sampled choices differ
    assert first.usage.completion_tokens <= 3 * 8


def test_n_choices_streamed(client) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=6, temperature=0,
                                                 n=2, stream=True, stream_options={"include_usage": True}))
    texts = {0: "", 1: ""}
    for chunk in chunks[:-1]:
        texts[chunk.choices[0].index] += chunk.choices[0].delta.content or ""
    assert texts[0] == texts[1] and texts[0]   # greedy: both choices agree
    assert chunks[-1].usage.completion_tokens == 2 * len(client.chat.completions.create(
        model=MODEL, messages=FRANCE, max_tokens=6, temperature=0, logprobs=True).choices[0].logprobs.content)


def test_chat_logprobs(client) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=FRANCE, max_tokens=4, temperature=0,
                                           logprobs=True, top_logprobs=2)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert "".join(t.token for t in content) == reply.choices[0].message.content
    assert all(len(t.top_logprobs) >= 2 and t.logprob <= 0 for t in content)
