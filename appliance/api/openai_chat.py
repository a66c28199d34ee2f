"""POST /v1/chat/completions: streamed and not, n choices, stop, logprobs, seed, usage."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Blueprint, Response

from appliance.api.bodies import ChatRequest
from appliance.api.chat_prompt import chat_prompt_ids
from appliance.api.deferred import deferred_json
from appliance.api.guard import current_key, require_api_key
from appliance.api.jobs import Job
from appliance.api.logprobs import chat_logprobs
from appliance.api.models_access import max_model_len, model_request
from appliance.api.cached_jobs import chat_query, start_job
from appliance.api.route_inputs import chat_route_input
from appliance.api.routed import serve_model
from appliance.api.sampling import sampling_params
from appliance.api.sse import disconnect_check, sse_response

bp = Blueprint("openai_chat", __name__)
bp.before_request(require_api_key)


@bp.post("/v1/chat/completions")
def chat_completions() -> Response:
    appliance, body, model = model_request(ChatRequest)
    messages = [m.for_template() for m in body.messages]
    top = body.top

    def start(engine, tier: str) -> Job:   # on the model named, or the tier its route picked
        prompt = chat_prompt_ids(engine.tokenizer, messages)
        limit = body.asked_max_tokens or max(1, max_model_len(engine) - len(prompt))   # default: the rest
        params = sampling_params(body, max_tokens=limit, logprobs=top)
        return start_job(appliance, engine, chat_query(tier, current_key(), messages, prompt, params), current_key())

    job = serve_model(appliance, model, current_key(), lambda engine: chat_route_input(engine, body), start)
    if body.stream:
        return sse_response(job, _chunks(job, body.include_usage, top is not None, disconnect_check()))
    return deferred_json(job, lambda: _completion(job, top is not None))


def _completion(job: Job, with_logprobs: bool) -> dict:
    choices = job.collect()   # the job is done (deferred.py): nothing left to wait for
    return {"id": job.id, "object": "chat.completion", "created": job.created, "model": job.model,
            "system_fingerprint": None,
            "choices": [{"index": c.index, "message": {"role": "assistant", "content": c.text},
                         "logprobs": chat_logprobs(c.logprobs) if with_logprobs else None,
                         "finish_reason": c.finish_reason} for c in choices],
            "usage": job.usage}


def _chunks(job: Job, include_usage: bool, with_logprobs: bool,
            disconnected: Callable[[], bool]) -> Iterator[dict]:
    def chunk(index: int, delta: dict, finish: str | None = None, logprobs: dict | None = None) -> dict:
        event = {"id": job.id, "object": "chat.completion.chunk", "created": job.created,
                 "model": job.model, "system_fingerprint": None,
                 "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}
        if include_usage:
            event["usage"] = None
        return event

    for index in range(job.params.n):
        yield chunk(index, {"role": "assistant", "content": ""})
    for delta in job.deltas(disconnected):
        if delta.text or delta.token_ids:
            logprobs = chat_logprobs(delta.logprobs or []) if with_logprobs else None
            job.deliver(delta)   # counted as the chunk goes to the server
            yield chunk(delta.index, {"content": delta.text}, logprobs=logprobs)
        if delta.finish_reason:
            yield chunk(delta.index, {}, delta.finish_reason)
    if include_usage:
        yield {"id": job.id, "object": "chat.completion.chunk", "created": job.created, "model": job.model,
               "system_fingerprint": None, "choices": [], "usage": job.usage}
