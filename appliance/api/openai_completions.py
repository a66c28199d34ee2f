"""POST /v1/completions: one prompt (text or token ids), streamed and not."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, jsonify

from appliance.api.errors import ApiError
from appliance.api.fields import Fields, json_body
from appliance.api.guard import current_key, require_api_key
from appliance.api.jobs import Job
from appliance.api.logprobs import completion_logprobs
from appliance.api.models_access import engine_for, max_model_len
from appliance.api.response_caching import completion_query, serve
from appliance.api.sampling import max_tokens, sampling_params, stream_flags
from appliance.api.sse import disconnect_check, sse_response

bp = Blueprint("openai_completions", __name__)
bp.before_request(require_api_key)


@bp.post("/v1/completions")
def completions() -> Response:
    from appliance.services import current_appliance

    appliance = current_appliance()
    body = Fields(json_body())
    model = body.string("model", required=True)
    stream, include_usage = stream_flags(body)
    _reject_unsupported(body)
    logprobs = body.integer("logprobs")
    if logprobs is not None and not 0 <= logprobs <= 5:
        raise ApiError(400, f"logprobs must be between 0 and 5, got {logprobs}.", param="logprobs",
                       code="invalid_value")
    engine = engine_for(appliance, model, current_key())
    prompt = _prompt_ids(engine.tokenizer, body.data.get("prompt"))
    limit = max_tokens(body, ("max_tokens",), len(prompt), max_model_len(engine), 16)
    params = sampling_params(body, max_tokens=limit, logprobs=logprobs)
    query = completion_query(model, current_key(), prompt, params, engine.tokenizer)
    job = serve(appliance, engine, query, current_key())
    if stream:
        return sse_response(job, _chunks(job, include_usage, logprobs is not None, disconnect_check()))
    return jsonify(_completion(job, logprobs is not None, disconnect_check()))


def _reject_unsupported(body: Fields) -> None:
    if body.boolean("echo"):
        raise ApiError(400, "echo is not supported.", param="echo", code="unsupported_parameter")
    if body.string("suffix"):
        raise ApiError(400, "suffix is not supported.", param="suffix", code="unsupported_parameter")
    best_of = body.integer("best_of")
    if best_of is not None and best_of != _n(body):
        raise ApiError(400, "best_of other than n is not supported.", param="best_of",
                       code="unsupported_parameter")


def _n(body: Fields) -> int:
    return body.integer("n") or 1


def _prompt_ids(tokenizer: Any, prompt: Any) -> list[int]:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, str) and prompt:
        return list(tokenizer(prompt)["input_ids"])
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool)
                                                   and 0 <= t < len(tokenizer) for t in prompt):
        return list(prompt)
    if prompt is None:
        raise ApiError(400, "'prompt' is required.", param="prompt", code="missing_required_parameter")
    raise ApiError(400, "'prompt' must be a non-empty string or an array of token ids in the vocabulary "
                   "(one prompt per request).", param="prompt", code="invalid_value")


def _completion(job: Job, with_logprobs: bool, disconnected: Callable[[], bool]) -> dict:
    choices = job.collect(disconnected)
    return {"id": job.id, "object": "text_completion", "created": job.created, "model": job.model,
            "system_fingerprint": None,
            "choices": [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                         "logprobs": completion_logprobs(c.logprobs) if with_logprobs else None}
                        for c in choices],
            "usage": job.usage}


def _chunks(job: Job, include_usage: bool, with_logprobs: bool,
            disconnected: Callable[[], bool]) -> Iterator[dict]:
    offsets = [0] * job.params.n
    for delta in job.deltas(disconnected):
        logprobs = None
        if with_logprobs:
            logprobs = completion_logprobs(delta.logprobs or [], offsets[delta.index])
        offsets[delta.index] += len(delta.text)
        event = {"id": job.id, "object": "text_completion", "created": job.created, "model": job.model,
                 "system_fingerprint": None,
                 "choices": [{"index": delta.index, "text": delta.text, "logprobs": logprobs,
                              "finish_reason": delta.finish_reason}]}
        if include_usage:
            event["usage"] = None
        yield event
        job.delivered_tokens += len(delta.token_ids)
    if include_usage:
        yield {"id": job.id, "object": "text_completion", "created": job.created, "model": job.model,
               "system_fingerprint": None, "choices": [], "usage": job.usage}
