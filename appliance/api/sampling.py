"""A chat or completions body -> the engine's SamplingParams (the body model checked the ranges)."""
from __future__ import annotations

from appliance.api.bodies import Sampling
from engine.sampling_params import SamplingParams


def sampling_params(body: Sampling, *, max_tokens: int, logprobs: int | None) -> SamplingParams:
    return SamplingParams(
        max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p, top_k=body.top_k, seed=body.seed,
        presence_penalty=body.presence_penalty, frequency_penalty=body.frequency_penalty, stop=body.stops,
        n=body.n, logprobs=logprobs, ignore_eos=body.ignore_eos, speculative=body.speculative)
