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
    ({"logprobs": True, "top_logprobs": 50}, "logprobs"), ({"stop": ["a", "b", "c", "d", "e"]}, "stop")])
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
