"""OpenAI request fields -> SamplingParams, shared by chat and completions."""
from __future__ import annotations

from appliance.api.errors import ApiError
from appliance.api.fields import Fields
from engine.sampling_params import SamplingParams


def sampling_params(body: Fields, *, max_tokens: int, logprobs: int | None) -> SamplingParams:
    """SamplingParams validates the ranges and raises InvalidParameter naming the field."""
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=_default(body.number("temperature"), 1.0),
        top_p=_default(body.number("top_p"), 1.0),
        top_k=_default(body.integer("top_k"), 0),
        seed=body.integer("seed"),
        presence_penalty=_default(body.number("presence_penalty"), 0.0),
        frequency_penalty=_default(body.number("frequency_penalty"), 0.0),
        stop=body.string_list("stop"),
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


def _default(value, default):
    return default if value is None else value
