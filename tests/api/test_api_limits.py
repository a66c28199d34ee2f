"""Limits that hold under concurrency, billing equal to delivery, and cache isolation by key.

All through the live server (real SQLite ledger, waitress on loopback, the official openai
client, SmolLM2): budgets and token rates are held at admission for the worst case and
settled to what was delivered, so parallel requests cannot overshoot them.
"""
from __future__ import annotations

import re
import threading
import uuid

import httpx
import openai
import pytest

from api_support import MODEL
from appliance.auth.keys import KeySpec

PROMPT = "Write one short sentence about the sea."


def _rows(live, key_id: str) -> list[dict]:
    live.appliance.ledger.flush(timeout=30)
    return live.appliance.ledger.export_json(key_id=key_id)


def _key(live, **settings):
    key, secret = live.appliance.keys.create(KeySpec(name="limits-" + uuid.uuid4().hex[:6], **settings))
    return key, live.client(secret)


def test_parallel_requests_never_exceed_the_budget(served) -> None:
    budget = 120
    key, client = _key(served, token_budget=budget)
    outcomes: list[object] = []

    def one() -> None:
        try:
            reply = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=16, temperature=0,
                                              extra_body={"ignore_eos": True})
            outcomes.append(reply.usage.total_tokens)
        except openai.RateLimitError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served_tokens = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, openai.RateLimitError)]
    assert served_tokens and refused, outcomes           # some fit, the rest were refused up front
    assert all("token budget" in str(e) and e.body["code"] == "insufficient_quota" for e in refused)
    billed = sum(r["prompt_tokens"] + r["completion_tokens"] for r in _rows(served, key.id))
    assert billed == sum(served_tokens) <= budget
    assert served.appliance.limits.used(key) == (billed, 0)   # settled to actual, nothing still held


def test_worst_case_that_cannot_fit_is_refused_and_bills_nothing(served) -> None:
    key, client = _key(served, token_budget=50)
    with pytest.raises(openai.RateLimitError, match="may use up to") as info:
        client.completions.create(model=MODEL, prompt=["a b", "c d", "e f", "g h"], n=4, max_tokens=64)
    assert "token budget" in str(info.value)
    assert _rows(served, key.id) == [] and served.appliance.limits.used(key) == (0, 0)


def test_tokens_per_minute_counts_held_tokens(served) -> None:
    key, client = _key(served, tokens_per_minute=40)
    with pytest.raises(openai.RateLimitError, match="40 tokens per minute"):
        client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=64)   # its worst case alone is over
    reply = client.completions.create(model=MODEL, prompt="Hi", max_tokens=4, temperature=0)
    assert served.appliance.limits.used(key) == (reply.usage.total_tokens, 0)


def test_every_prompt_of_a_batch_counts_as_a_request(served) -> None:
    _, client = _key(served, requests_per_minute=3)
    with pytest.raises(openai.RateLimitError, match="4 prompts counts 4"):
        client.completions.create(model=MODEL, prompt=["a", "b", "c", "d"], max_tokens=1)
    client.completions.create(model=MODEL, prompt=["a", "b", "c"], max_tokens=1)
    with pytest.raises(openai.RateLimitError, match="3 requests per minute"):
        client.completions.create(model=MODEL, prompt="a", max_tokens=1)


def test_billed_equals_delivered_not_streamed(served) -> None:
    key, client = _key(served)
    reply = client.completions.create(model=MODEL, prompt=["Once upon a time", "The sea"], max_tokens=12,
                                      logprobs=0, temperature=0)
    delivered = sum(len(c.logprobs.tokens) for c in reply.choices)   # one logprob entry per token sent
    rows = _rows(served, key.id)
    assert reply.usage.completion_tokens == delivered == sum(r["completion_tokens"] for r in rows)
    assert reply.usage.prompt_tokens == sum(r["prompt_tokens"] for r in rows)


def test_billed_equals_delivered_streamed(served) -> None:
    key, client = _key(served)
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}],
                                            max_tokens=20, logprobs=True, stream=True,
                                            stream_options={"include_usage": True})
    delivered, usage = 0, None
    for chunk in stream:
        for choice in chunk.choices:
            delivered += len(choice.logprobs.content or []) if choice.logprobs else 0
        usage = chunk.usage or usage
    [row] = _rows(served, key.id)
    assert usage.completion_tokens == delivered == row["completion_tokens"] > 0
    assert usage.prompt_tokens == row["prompt_tokens"]
    assert served.appliance.limits.used(key) == (usage.total_tokens, 0)


def test_client_that_disconnects_is_billed_what_was_sent(served) -> None:
    key, client = _key(served, token_budget=5000)
    received = 0
    with client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": PROMPT}],
                                        max_tokens=400, logprobs=True, stream=True,
                                        extra_body={"ignore_eos": True}) as stream:
        for chunk in stream:
            received += sum(len(c.logprobs.content or []) for c in chunk.choices if c.logprobs)
            if received >= 3:
                break
    for _ in range(100):
        rows = _rows(served, key.id)
        if rows:
            break
        threading.Event().wait(0.1)
    [row] = rows
    # written to the socket is billed: at least what the client read, and far from the 400 held
    assert received <= row["completion_tokens"] < 100 and row["finish_reason"] == "abort"
    assert served.appliance.limits.used(key) == (row["prompt_tokens"] + row["completion_tokens"], 0)


# -- isolation by default: keys share caches only when they name the same tenant ---------------

LONG = ("Airlock keeps every prompt on the premises. " * 6).strip()


def _cached(client, text: str) -> int:
    reply = client.completions.create(model=MODEL, prompt=text, max_tokens=1, temperature=0)
    return reply.usage.prompt_tokens_details.cached_tokens


def test_keys_without_a_tenant_share_no_prefix_cache(served) -> None:
    text = f"{uuid.uuid4().hex} {LONG}"
    _, first = _key(served)
    _, second = _key(served)
    assert _cached(first, text) == 0
    assert _cached(second, text) == 0            # another key cannot see (or time) the first one's prompt
    assert _cached(first, text) >= 32            # the first key's own repeat is cached


def test_keys_of_one_tenant_share_and_other_tenants_do_not(served) -> None:
    text = f"{uuid.uuid4().hex} {LONG}"
    _, radiology_a = _key(served, tenant="radiology")
    _, radiology_b = _key(served, tenant="radiology")
    _, pharmacy = _key(served, tenant="pharmacy")
    _, no_tenant = _key(served)
    assert _cached(radiology_a, text) == 0
    assert _cached(pharmacy, text) == 0
    assert _cached(no_tenant, text) == 0
    assert _cached(radiology_b, text) >= 32      # named the same tenant explicitly: shared


# -- keys and request fields refused up front -----------------------------------------------

def test_key_settings_are_checked_when_the_key_is_made(served) -> None:
    admin = served.http()
    for body, param in (({"name": "n" * 201}, "name"), ({"name": "x", "tenant": "t" * 201}, "tenant"),
                        ({"name": "x", "tenant": "default"}, "tenant")):
        response = admin.post("/admin/keys", json=body, headers=served.admin())
        assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text


def test_budget_set_later_counts_earlier_usage(served) -> None:
    key, client = _key(served)
    used = client.completions.create(model=MODEL, prompt="Hi", max_tokens=4, temperature=0).usage.total_tokens
    response = served.http().patch(f"/admin/keys/{key.id}", json={"token_budget": used + 3},
                                   headers=served.admin())
    assert response.status_code == 200
    with pytest.raises(openai.RateLimitError, match=f"{used} of {used + 3} tokens used"):
        client.completions.create(model=MODEL, prompt="Hi", max_tokens=4)


@pytest.mark.parametrize("extra, param", [({"logit_bias": {"50": 10}}, "logit_bias"),
                                          ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
                                          ({"stop": ["x" * 201]}, "stop[0]")])
def test_fields_that_would_be_ignored_are_refused(served, extra, param) -> None:
    client = served.client()
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=1,
                                       extra_body=extra)
    assert info.value.body["param"] == param


def test_deeply_nested_json_is_a_400(served) -> None:
    body = '{"model": "smollm2", "prompt": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = httpx.post(served.url + "/v1/completions", content=body, timeout=60,
                          headers={"Authorization": f"Bearer {served.key()}", "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


# -- embeddings go through the same admission and ledger ----------------------------------------

@pytest.fixture(scope="module")
def embedder(served, minilm_path):
    from appliance.caching.embeddings import EmbeddingModel

    if served.appliance.embedding_model is None:
        served.appliance.embedding_model = EmbeddingModel(minilm_path)
    return served.appliance.config.models.embedding_model


def test_embeddings_are_limited_and_recorded(served, embedder) -> None:
    key, client = _key(served, requests_per_minute=2, token_budget=1000)
    reply = client.embeddings.create(model=embedder, input=["The cat sat.", "Tax law"])
    [row] = _rows(served, key.id)
    assert row["endpoint"] == "embeddings" and row["prompt_tokens"] == reply.usage.prompt_tokens > 4
    assert served.appliance.limits.used(key) == (reply.usage.prompt_tokens, 0)
    client.embeddings.create(model=embedder, input="again")
    with pytest.raises(openai.RateLimitError, match="2 requests per minute"):
        client.embeddings.create(model=embedder, input="third")
    _, small = _key(served, token_budget=3)
    with pytest.raises(openai.RateLimitError, match="token budget"):
        small.embeddings.create(model=embedder, input="more than three tokens here")


def test_metrics_count_dead_lettered_rows(served) -> None:
    from appliance.ledger import dead_letter

    def counted() -> float:
        text = served.http().get("/metrics").text
        return float(re.search(r"^airlock:ledger_dead_letter_rows_total (\S+)$", text, re.M).group(1))

    before = counted()
    dead_letter.write([{"request_id": "dl-1", "error": "test"}])
    assert counted() == before + 1
