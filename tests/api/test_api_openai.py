"""The OpenAI endpoints through the official client: chat and completions (one prompt or a batch),
streamed and not."""
from __future__ import annotations

import openai
import pytest

from api_support import MODEL
from appliance.auth.keys import KeySpec

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


BATCH = ["1, 2, 3, 4,", "Monday, Tuesday, Wednesday,", "red, orange, yellow,"]


def _alone(client, prompts: list, **kwargs) -> list:
    """Each prompt sent on its own, greedy."""
    return [client.completions.create(model=MODEL, prompt=p, max_tokens=6, temperature=0, **kwargs)
            for p in prompts]


def _assert_summed(usage, replies: list) -> None:
    assert usage.prompt_tokens == sum(r.usage.prompt_tokens for r in replies)
    assert usage.completion_tokens == sum(r.usage.completion_tokens for r in replies)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 0 <= usage.prompt_tokens_details.cached_tokens <= usage.prompt_tokens


def test_completions_batch_of_strings(client) -> None:
    alone = _alone(client, BATCH)
    reply = client.completions.create(model=MODEL, prompt=BATCH, max_tokens=6, temperature=0)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert [c.text for c in reply.choices] == [a.choices[0].text for a in alone]
    assert len({c.text for c in reply.choices}) == 3   # a mix-up of prompts could not go unseen
    assert all(c.finish_reason in ("stop", "length") for c in reply.choices)
    _assert_summed(reply.usage, alone)


def test_completions_batch_of_token_arrays(client, engine) -> None:
    ids = [list(engine.tokenizer(p)["input_ids"]) for p in BATCH]
    alone = _alone(client, ids[:2])
    reply = client.completions.create(model=MODEL, prompt=ids[:2], max_tokens=6, temperature=0)
    assert [c.index for c in reply.choices] == [0, 1]
    assert [c.text for c in reply.choices] == [a.choices[0].text for a in alone]
    assert alone[0].choices[0].text == _alone(client, [BATCH[0]])[0].choices[0].text
    _assert_summed(reply.usage, alone)


def test_completions_batch_with_n(client) -> None:
    alone = _alone(client, BATCH[:2])
    reply = client.completions.create(model=MODEL, prompt=BATCH[:2], max_tokens=6, temperature=0, n=2)
    assert [c.index for c in reply.choices] == [0, 1, 2, 3]
    first, second = (a.choices[0].text for a in alone)
    assert [c.text for c in reply.choices] == [first, first, second, second]   # prompt i's choice j: i * n + j
    assert reply.usage.prompt_tokens == sum(a.usage.prompt_tokens for a in alone)   # each prompt once
    assert reply.usage.completion_tokens == 2 * sum(a.usage.completion_tokens for a in alone)


def test_completions_batch_streamed_with_usage(client) -> None:
    whole = client.completions.create(model=MODEL, prompt=BATCH, max_tokens=6, temperature=0)
    chunks = list(client.completions.create(model=MODEL, prompt=BATCH, max_tokens=6, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    *deltas, last = chunks
    texts, finished = {}, {}
    for chunk in deltas:
        [choice] = chunk.choices
        texts[choice.index] = texts.get(choice.index, "") + choice.text
        if choice.finish_reason:
            finished[choice.index] = choice.finish_reason
        assert chunk.usage is None and chunk.id == last.id
    assert texts == {c.index: c.text for c in whole.choices}
    assert finished == {c.index: c.finish_reason for c in whole.choices}
    order = [chunk.choices[0].index for chunk in deltas]
    assert order != sorted(order)   # the prompts ran side by side, not one after another
    assert last.choices == []
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert last.usage.completion_tokens == whole.usage.completion_tokens


def test_completions_batch_rejects_a_bad_prompt_whole(served, engine) -> None:
    key, secret = served.appliance.keys.create(KeySpec(name="batch-ledger"))
    client = served.client(secret)
    with pytest.raises(openai.BadRequestError, match=r"prompt\[1\]") as info:
        client.completions.create(model=MODEL, prompt=["Hello", "", "World"], max_tokens=2)
    assert info.value.param == "prompt[1]"
    with pytest.raises(openai.BadRequestError, match=r"prompt\[1\]"):
        client.completions.create(model=MODEL, prompt=[[1, 2], [3, 10**9]], max_tokens=2)
    room = engine.max_model_len - 3
    with pytest.raises(openai.BadRequestError, match=r"prompt\[2\]") as info:
        client.completions.create(model=MODEL, prompt=["Hi", "Hi", "Once upon a time there was a dragon"],
                                  max_tokens=room)
    assert info.value.code == "context_length_exceeded" and str(engine.max_model_len) in info.value.message
    reply = client.completions.create(model=MODEL, prompt=BATCH[:2], max_tokens=3, temperature=0)
    rows = served.appliance.ledger.export_json(key_id=key.id)   # nothing ran for the rejected requests
    assert sorted(r["request_id"] for r in rows) == [f"{reply.id}-0", f"{reply.id}-1"]
    assert sum(r["completion_tokens"] for r in rows) == reply.usage.completion_tokens
    assert sum(r["prompt_tokens"] for r in rows) == reply.usage.prompt_tokens


def test_completions_batch_size_limit(client) -> None:
    reply = client.completions.create(model=MODEL, prompt=["Hi"] * 64, max_tokens=1, temperature=0)
    assert [c.index for c in reply.choices] == list(range(64)) and len({c.text for c in reply.choices}) == 1
    with pytest.raises(openai.BadRequestError, match="'prompt' may hold at most 64 items, got 65") as info:
        client.completions.create(model=MODEL, prompt=["Hi"] * 65, max_tokens=1)
    assert info.value.param == "prompt" and info.value.status_code == 400
