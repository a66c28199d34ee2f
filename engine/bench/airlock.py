"""The Airlock side of a benchmark: every request submitted at once to one in-process Engine."""
from __future__ import annotations

import math
import time

from engine import planner
from engine.bench.report import RequestTiming, SystemResult
from engine.config import CachePolicy, EngineConfig
from engine.kv_format import KV_TORCH_DTYPES
from engine.llm_engine import Engine
from engine.loader import LoadedModel
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams

_BLOCK_SIZE = 16


def run_airlock(model: LoadedModel, prompts: list[list[int]], max_tokens: int, name: str) -> SystemResult:
    """Greedy, EOS ignored, prefix cache off (each run computes every prompt token)."""
    engine = Engine(model, engine_config(model, prompts, max_tokens))
    try:
        _warm_up(engine, prompts[0])
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
        start = time.monotonic()
        streams = [engine.submit(p, params) for p in prompts]
        outputs = [s.collect()[0] for s in streams]
    finally:
        engine.shutdown(abort_running=True)
    for output in outputs:
        if output.finish_reason != "length":
            raise RuntimeError(f"an engine request ended with {output.finish_reason!r} instead of 'length'")
    wall = max(s.metrics.finished_clock for s in streams) - start
    timings = [RequestTiming(len(p), o.token_ids, s.metrics.ttft or 0.0, list(s.metrics.inter_token_latencies))
               for p, o, s in zip(prompts, outputs, streams)]
    return SystemResult(name, wall, timings)


def engine_config(model: LoadedModel, prompts: list[list[int]], max_tokens: int) -> EngineConfig:
    """A KV pool that holds the whole workload at once, so nothing is preempted."""
    blocks = sum(math.ceil((len(p) + max_tokens) / _BLOCK_SIZE) for p in prompts) + 2 * len(prompts) + 8
    kv_dtype = kv_dtype_for(model)
    kv_bytes = blocks * ModelRunner.kv_bytes_per_block(model, _BLOCK_SIZE, KV_TORCH_DTYPES[kv_dtype])
    return EngineConfig(block_size=_BLOCK_SIZE, kv_cache_bytes=kv_bytes, kv_dtype=kv_dtype,
                        max_num_seqs=max(128, len(prompts)),
                        max_num_batched_tokens=max(512, len(prompts)), max_waiting=len(prompts) + 8,
                        cache=CachePolicy(enabled=False))


def kv_dtype_for(model: LoadedModel) -> str:
    """The KV dtype the appliance gives this model (planner.default_kv_dtype)."""
    return planner.default_kv_dtype(model.precision, model.device.type)


def _warm_up(engine: Engine, prompt: list[int]) -> None:
    engine.submit(prompt[:32], SamplingParams(max_tokens=4, temperature=0.0, ignore_eos=True)).collect()
