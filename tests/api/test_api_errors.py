"""Every bad input maps to OpenAI's error body and the matching openai exception; none is a 500."""
from __future__ import annotations

import openai
import pytest

from api_support import MODEL

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def client(served):
    return served.client()


@pytest.fixture(scope="module")
def http(served):
    client = served.http()
    client.headers["Authorization"] = f"Bearer {served.key('raw-http')}"
    return client


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in error["message"]
    return error


def test_malformed_json_is_400(http) -> None:
    response = http.post("/v1/chat/completions", content=b'{"model": "x", "messages": [',
                         headers={"Content-Type": "application/json"})
    assert "not valid JSON" in _error(response, 400)["message"]
    assert "JSON object" in _error(http.post("/v1/completions", json=[1, 2]), 400)["message"]


@pytest.mark.parametrize("field, value, param", [
    ("temperature", "hot", "temperature"), ("max_tokens", 1.5, "max_tokens"), ("n", True, "n"),
    ("stream", "yes", "stream"), ("stop", 5, "stop"), ("seed", "x", "seed")])
def test_wrong_type_names_the_parameter(client, field, value, param) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=HI, extra_body={field: value})
    assert info.value.status_code == 400 and info.value.param == param
    assert f"'{param}' must be" in info.value.message


@pytest.mark.parametrize("kwargs, param", [
    ({"temperature": -1}, "temperature"), ({"top_p": 7}, "top_p"), ({"n": 0}, "n"),
    ({"max_tokens": 0}, "max_tokens"), ({"presence_penalty": 3}, "presence_penalty"),
    ({"logprobs": True, "top_logprobs": 50}, "top_logprobs"), ({"stop": ["a", "b", "c", "d", "e"]}, "stop")])
def test_out_of_range_names_the_parameter(client, kwargs, param) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=HI, **kwargs)
    assert info.value.param == param and param in info.value.message


def test_unknown_role_and_missing_messages(client) -> None:
    with pytest.raises(openai.BadRequestError, match="messages\\[0\\].role") as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "hi"}])
    assert info.value.param == "messages[0].role"
    with pytest.raises(openai.BadRequestError, match="'messages' must be a non-empty array"):
        client.chat.completions.create(model=MODEL, messages=[])


WIZARD = [{"role": "wizard", "content": "hi"}]
IMAGE = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]


@pytest.mark.parametrize("change, param, words, code", [
    ({"temperature": 3}, "temperature", "must be at most 2, got 3", "invalid_value"),
    ({"n": 0}, "n", "must be at least 1, got 0", "invalid_value"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "may hold at most 4 items, got 5", "invalid_value"),
    ({"messages": None}, "messages", "is required", "missing_required_parameter"),
    ({"messages": WIZARD}, "messages[0].role", "must be 'system', 'developer', 'user', 'assistant' or 'tool'",
     "invalid_value"),
    ({"max_tokens": "ten"}, "max_tokens", 'must be an integer, got string "ten"', "invalid_type"),
    ({"messages": IMAGE}, "messages[0].content[0].type", "must be 'text'", "invalid_value"),
    ({"stream_options": {"include_usage": True}}, "stream_options", "is only allowed when stream is true",
     "invalid_value")])
def test_bad_chat_body_names_the_field(http, change, param, words, code) -> None:
    body = {k: v for k, v in ({"model": MODEL, "messages": HI} | change).items() if v is not None}
    error = _error(http.post("/v1/chat/completions", json=body), 400)
    assert error["param"] == param and error["code"] == code and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"'{param}' {words}") and "\n" not in error["message"]


@pytest.mark.parametrize("path, body, param", [
    ("/v1/completions", {"model": MODEL, "prompt": ["Hi", 7]}, "prompt[1]"),
    ("/v1/completions", {"model": MODEL, "prompt": "Hi", "echo": True}, "echo"),
    ("/v1/completions", {"model": MODEL, "prompt": "Hi", "logprobs": 6}, "logprobs"),
    ("/v1/embeddings", {"model": MODEL, "input": ["a", ""]}, "input[1]"),
    ("/v1/embeddings", {"model": MODEL, "input": "a", "encoding_format": "hex"}, "encoding_format")])
def test_bad_completion_and_embedding_bodies_name_the_field(http, path, body, param) -> None:
    error = _error(http.post(path, json=body), 400)
    assert error["param"] == param and error["message"].startswith(f"'{param}' ")


def test_null_is_absent_and_unknown_fields_are_ignored(client) -> None:
    reply = client.chat.completions.create(model=MODEL, messages=HI, max_tokens=2, temperature=0,
                                           extra_body={"top_p": None, "stop": None, "metadata": {"a": "b"}})
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_context_exceeded_names_both_numbers(client, served) -> None:
    limit = served.appliance.models.get(MODEL).max_model_len
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=MODEL, prompt="Hello there", max_tokens=limit)
    assert info.value.code == "context_length_exceeded" and info.value.param == "max_tokens"
    assert str(limit) in info.value.message and f"{limit} completion tokens" in info.value.message


def test_unknown_model_is_404_naming_loaded(client) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert "gpt-4o" in info.value.message and MODEL in info.value.message
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_unknown_route_and_method_in_openai_format(http) -> None:
    assert _error(http.get("/v1/nothing"), 404)["code"] == "not_found"
    assert "POST" in _error(http.get("/v1/chat/completions"), 405)["message"]


def test_queue_full_is_503_with_retry_after(served, engine) -> None:
    limit = engine.config.max_waiting
    engine.config.max_waiting = 0   # a full queue without having to outrun the scheduler
    try:
        with pytest.raises(openai.InternalServerError) as info:
            served.client().completions.create(model=MODEL, prompt="Once", max_tokens=2)
    finally:
        engine.config.max_waiting = limit
    assert info.value.status_code == 503 and info.value.code == "queue_full"
    assert "requests waiting (limit 0)" in info.value.message
    assert int(info.value.response.headers["Retry-After"]) >= 1


def test_server_keeps_serving_after_errors(client) -> None:
    reply = client.completions.create(model=MODEL, prompt="1, 2, 3,", max_tokens=2, temperature=0)
    assert reply.choices[0].text.startswith(" 4")
