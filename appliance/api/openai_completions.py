"""POST /v1/completions: one prompt or a batch (text or token ids), streamed and not.

A batch of P prompts with n choices each answers with P * n choices, prompt i's choice j at
index i * n + j; usage is summed over the prompts. A single prompt may be answered from the
response caches; a batch always runs in the engine, one engine request per prompt.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response

from appliance.api.bodies import CompletionRequest
from appliance.api.completion_prompts import check_context, prompt_batch
from appliance.api.deferred import deferred_json
from appliance.api.guard import current_key, require_api_key
from appliance.api.job_group import JobGroup, start_batch
from appliance.api.logprobs import completion_logprobs
from appliance.api.models_access import max_model_len, model_request
from appliance.api.cached_jobs import completion_query, start_job
from appliance.api.route_inputs import completion_route_input
from appliance.api.routed import serve_model
from appliance.api.sampling import sampling_params
from appliance.api.sse import disconnect_check, sse_response
from engine.sampling_params import SamplingParams

bp = Blueprint("openai_completions", __name__)
bp.before_request(require_api_key)


@bp.post("/v1/completions")
def completions() -> Response:
    appliance, body, model = model_request(CompletionRequest)
    logprobs = body.logprobs

    def start(engine, tier: str) -> JobGroup:   # on the model named, or the tier its route picked
        prompts = prompt_batch(engine.tokenizer, _vocab_size(engine), body.prompts)
        params = sampling_params(body, max_tokens=body.max_tokens, logprobs=logprobs)
        return _serve(appliance, engine, tier, prompts, params)

    group = serve_model(appliance, model, current_key(), lambda engine: completion_route_input(engine, body), start)
    if body.stream:
        return sse_response(group, _chunks(group, body.include_usage, logprobs is not None, disconnect_check()))
    return deferred_json(group, lambda: _completion(group, logprobs is not None))


def _serve(appliance: Any, engine: Any, model: str, prompts: list[list[int]], params: SamplingParams) -> JobGroup:
    """A single prompt goes through the response caches as before; a batch, checked whole first,
    goes to the engine."""
    key = current_key()
    if len(prompts) == 1:
        job = start_job(appliance, engine, completion_query(model, key, prompts[0], params, engine.tokenizer), key)
        return JobGroup([job], job.id)
    check_context(prompts, params.max_tokens, max_model_len(engine))
    return start_batch(appliance, engine, model, "completions", key, prompts, params)


def _vocab_size(engine: Any) -> int:
    """The token ids both the tokenizer and the engine accept."""
    size = len(engine.tokenizer)
    return min(size, getattr(engine, "vocab_size", None) or size)


def _completion(group: JobGroup, with_logprobs: bool) -> dict:
    choices = group.collect()   # the group is done (deferred.py): nothing left to wait for
    return {"id": group.id, "object": "text_completion", "created": group.created, "model": group.model,
            "system_fingerprint": None,
            "choices": [{"index": c.index, "text": c.text, "finish_reason": c.finish_reason,
                         "logprobs": completion_logprobs(c.logprobs) if with_logprobs else None}
                        for c in choices],
            "usage": group.usage}


def _chunks(group: JobGroup, include_usage: bool, with_logprobs: bool,
            disconnected: Callable[[], bool]) -> Iterator[dict]:
    offsets = [0] * group.size
    for job, index, delta in group.deltas(disconnected):
        logprobs = None
        if with_logprobs:
            logprobs = completion_logprobs(delta.logprobs or [], offsets[index])
        offsets[index] += len(delta.text)
        event = {"id": group.id, "object": "text_completion", "created": group.created, "model": group.model,
                 "system_fingerprint": None,
                 "choices": [{"index": index, "text": delta.text, "logprobs": logprobs,
                              "finish_reason": delta.finish_reason}]}
        if include_usage:
            event["usage"] = None
        job.deliver(delta)   # counted as the chunk goes to the server
        yield event
    if include_usage:
        yield {"id": group.id, "object": "text_completion", "created": group.created, "model": group.model,
               "system_fingerprint": None, "choices": [], "usage": group.usage}
