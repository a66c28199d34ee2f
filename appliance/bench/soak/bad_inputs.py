"""Requests no server should accept: each must get a 4xx with a JSON error, never a 5xx.

Malformed JSON, wrong types, out-of-range values, unknown names, deep nesting and a missing
credential, sent with httpx so the body can be anything.
"""
from __future__ import annotations

import time

import httpx

from appliance.bench.soak.requests import Target, recorded
from appliance.bench.soak.tally import Attempt

DEEP = "[" * 5000 + "]" * 5000


def cases(model: str) -> list[tuple[str, str, dict]]:
    """(name, path, httpx keyword arguments) of each bad request."""
    chat, completions, embeddings = "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
    user = [{"role": "user", "content": "hi"}]
    return [
        ("malformed json", chat, {"content": b'{"model": "x", "messages": [', "headers": _json()}),
        ("body not an object", chat, {"json": [1, 2, 3]}),
        ("messages a string", chat, {"json": {"model": model, "messages": "hi"}}),
        ("max_tokens a string", chat, {"json": {"model": model, "messages": user, "max_tokens": "ten"}}),
        ("temperature -1", chat, {"json": {"model": model, "messages": user, "temperature": -1}}),
        ("n zero", completions, {"json": {"model": model, "prompt": "hi", "n": 0}}),
        ("prompt an object", completions, {"json": {"model": model, "prompt": {"a": 1}}}),
        ("unknown model", chat, {"json": {"model": "no-such-model", "messages": user}}),
        ("unknown role", chat, {"json": {"model": model, "messages": [{"role": "wizard", "content": "hi"}]}}),
        ("deeply nested json", completions, {"content": DEEP.encode(), "headers": _json()}),
        ("embedding input a number", embeddings, {"json": {"model": model, "input": 42}}),
        ("no credential", chat, {"json": {"model": model, "messages": user}, "headers": {"Authorization": ""}}),
    ]


def _json() -> dict:
    return {"Content-Type": "application/json"}


def send(http: httpx.Client, target: Target, case: tuple[str, str, dict]) -> Attempt:
    name, path, kwargs = case
    with recorded(Attempt("bad", target.key_name, time.monotonic(), error_code=name)) as attempt:
        attempt.status = http.post(path, **kwargs).status_code
    return attempt
