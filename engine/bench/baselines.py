"""The transformers baselines, run on the same weights and prompts as the engine:
`generate` one request at a time, `generate` over one static left-padded batch, and
transformers' own continuous batching (`generate_batch`). Greedy, EOS ignored."""
from __future__ import annotations

import math
import time
from typing import Any

import torch
from transformers import GenerationConfig
from transformers.generation.configuration_utils import ContinuousBatchingConfig
from transformers.generation.streamers import BaseStreamer

from engine.bench.report import RequestTiming, SystemResult


class _TokenClock(BaseStreamer):
    """Notes the time of each generation step (generate hands the prompt over first)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if self._prompt_seen:
            self.times.append(time.perf_counter())
        self._prompt_seen = True

    def end(self) -> None:
        pass


def generation_config(max_tokens: int, pad_token_id: int) -> GenerationConfig:
    # eos -1: no token ends a sequence, like the engine's ignore_eos
    return GenerationConfig(max_new_tokens=max_tokens, min_new_tokens=None, do_sample=False,
                            eos_token_id=-1, pad_token_id=pad_token_id)


@torch.inference_mode()
def generate_one_by_one(model: Any, prompts: list[list[int]], max_tokens: int, pad_token_id: int) -> SystemResult:
    config = generation_config(max_tokens, pad_token_id)
    timings, wall = [], 0.0
    for prompt in prompts:
        ids = torch.tensor([prompt])
        clock, start = _TokenClock(), time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             generation_config=config, streamer=clock)
        wall += time.perf_counter() - start
        timings.append(_timing(len(prompt), out[0, len(prompt):].tolist(), start, clock.times))
    return SystemResult("transformers generate, one at a time", wall, timings)


@torch.inference_mode()
def generate_static_batch(model: Any, prompts: list[list[int]], max_tokens: int, pad_token_id: int) -> SystemResult:
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    clock, start = _TokenClock(), time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=generation_config(max_tokens, pad_token_id),
                         streamer=clock)
    wall = time.perf_counter() - start
    timings = [_timing(len(p), out[i, width:].tolist(), start, clock.times) for i, p in enumerate(prompts)]
    return SystemResult("transformers generate, static padded batch", wall, timings)


@torch.inference_mode()
def generate_continuous(model: Any, prompts: list[list[int]], max_tokens: int, pad_token_id: int) -> SystemResult:
    start = time.perf_counter()
    results = model.generate_batch(inputs=prompts, generation_config=generation_config(max_tokens, pad_token_id),
                                   continuous_batching_config=continuous_config(prompts, max_tokens),
                                   record_timestamps=True, warmup=False)
    wall = time.perf_counter() - start
    ordered = sorted(results.values(), key=lambda r: int(r.request_id.rsplit("_", 1)[-1]))
    timings = [_timing(len(r.prompt_ids), list(r.generated_tokens), r.created_time, r.timestamps or [])
               for r in ordered]
    return SystemResult("transformers generate_batch (continuous)", wall, timings)


def continuous_config(prompts: list[list[int]], max_tokens: int) -> ContinuousBatchingConfig:
    """A KV cache sized for the workload, and the engine's per-step token budget. Left to itself,
    generate_batch sizes its cache from free memory, which on a CPU means most of the RAM."""
    page = 256
    blocks = sum(math.ceil((len(p) + max_tokens) / page) for p in prompts) + 4
    return ContinuousBatchingConfig(page_size=page, num_blocks=blocks, max_batch_tokens=512)


def _timing(prompt_tokens: int, token_ids: list[int], start: float, times: list[float]) -> RequestTiming:
    if not times:
        return RequestTiming(prompt_tokens, token_ids, 0.0)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return RequestTiming(prompt_tokens, token_ids, times[0] - start, gaps)


BASELINES = {
    "sequential": generate_one_by_one,
    "static": generate_static_batch,
    "continuous": generate_continuous,
}
