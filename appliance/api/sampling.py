"""OpenAI request fields -> SamplingParams, shared by chat and completions."""
from __future__ import annotations

from appliance.api.errors import ApiError
from appliance.api.fields import Fields
from engine.sampling_params import SamplingParams


MAX_STOP_CHARS = 200   # each stop string is searched for in the text after every step
# fields that would change the answer if honoured: refused rather than silently ignored
UNSUPPORTED = ("logit_bias", "tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")


def sampling_params(body: Fields, *, max_tokens: int, logprobs: int | None) -> SamplingParams:
    """SamplingParams validates the ranges and raises InvalidParameter naming the field."""
    reject_unsupported(body)
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=_default(body.number("temperature"), 1.0),
        top_p=_default(body.number("top_p"), 1.0),
        top_k=_default(body.integer("top_k"), 0),
        seed=body.integer("seed"),
        presence_penalty=_default(body.number("presence_penalty"), 0.0),
        frequency_penalty=_default(body.number("frequency_penalty"), 0.0),
        stop=_stop(body),
        n=_default(body.integer("n"), 1),
        logprobs=logprobs,
        ignore_eos=body.boolean("ignore_eos"),
        speculative=body.boolean("speculative", True),   # Airlock extension: false opts out of drafting
    )


def max_tokens(body: Fields, names: tuple[str, ...], prompt_len: int, max_model_len: int,
               default: int | None) -> int:
    """The first of `names` present, else `default`, else the rest of the context window."""
    for name in names:
        value = body.integer(name)
        if value is not None:
            if value < 1:
                raise ApiError(400, f"{name} must be at least 1, got {value}.", param=name,
                               code="invalid_value")
            return value
    return default if default is not None else max(1, max_model_len - prompt_len)


def stream_flags(body: Fields) -> tuple[bool, bool]:
    """(stream, include_usage); stream_options is only valid with stream."""
    stream = body.boolean("stream")
    options = body.obj("stream_options")
    include_usage = options.boolean("include_usage")
    if options.data and not stream:
        raise ApiError(400, "stream_options is only allowed when stream is true.", param="stream_options",
                       code="invalid_value")
    return stream, include_usage


def reject_unsupported(body: Fields) -> None:
    """A 400 naming the first field Airlock does not honour (an empty or null value is fine)."""
    for name in UNSUPPORTED:
        value = body.data.get(name)
        if value not in (None, {}, [], "none", False):
            raise ApiError(400, f"{name} is not supported by this server; remove it from the request.",
                           param=name, code="unsupported_parameter")


def _stop(body: Fields) -> list[str]:
    stop = body.string_list("stop")
    for i, text in enumerate(stop):
        if len(text) > MAX_STOP_CHARS:
            raise ApiError(400, f"stop[{i}] has {len(text)} characters; at most {MAX_STOP_CHARS} are allowed.",
                           param="stop", code="invalid_value")
    return stop


def _default(value, default):
    return default if value is None else value
