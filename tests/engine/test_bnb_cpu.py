"""bitsandbytes int8 and nf4, the CUDA quantization path, run through the engine on CPU with the
real SmolLM2 weights: the load, a forward pass, greedy requests, perplexity and the planner's
byte count for that layout are all checked where no GPU is present."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from engine import planner
from engine.bench.quant import FIXED_TEXT, perplexity
from engine.config import CachePolicy, EngineConfig
from engine.llm_engine import Engine
from engine.loader import LoadedModel, wrap
from engine.sampling_params import SamplingParams

pytest.importorskip("bitsandbytes")
PPL_BOUND = {"int8": 1.02, "nf4": 1.40}   # measured on SmolLM2: +0.2% and +27% over fp32
QUESTION = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module", params=["int8", "nf4"])
def bnb_model(request: pytest.FixtureRequest, smollm2_hf: tuple[Any, Any], smollm2_path: Path) -> LoadedModel:
    hf_model, tokenizer = smollm2_hf
    return wrap(hf_model, tokenizer, smollm2_path, device=torch.device("cpu"), precision=request.param,
                backend="bitsandbytes")


def test_layers_are_bitsandbytes(bnb_model: LoadedModel) -> None:
    import bitsandbytes as bnb
    expected = bnb.nn.Linear8bitLt if bnb_model.precision == "int8" else bnb.nn.Linear4bit
    layer = bnb_model.module.layers[0]
    assert isinstance(layer.qkv_proj, expected) and isinstance(layer.down_proj, expected)
    assert bnb_model.module.fused_decode is None        # the CPU fused step is for Airlock's own layers


def test_weight_bytes_match_the_planner(bnb_model: LoadedModel, smollm2_hf: tuple[Any, Any]) -> None:
    shape = planner.ModelShape.from_config(smollm2_hf[0].config.to_dict())
    estimate = planner.weight_bytes(shape, bnb_model.precision, "cpu", backend="bitsandbytes")
    assert estimate == pytest.approx(bnb_model.weight_bytes(), rel=0.01)


@pytest.fixture(scope="module")
def full_precision_perplexity(smollm2_model: LoadedModel) -> float:
    return perplexity(smollm2_model, smollm2_model.tokenizer(FIXED_TEXT)["input_ids"])


def test_perplexity_within_the_bound(bnb_model: LoadedModel, full_precision_perplexity: float) -> None:
    full = full_precision_perplexity
    quantized = perplexity(bnb_model, bnb_model.tokenizer(FIXED_TEXT)["input_ids"])
    assert full <= quantized * 1.01 and quantized <= full * PPL_BOUND[bnb_model.precision], (full, quantized)


def test_greedy_requests_in_a_batch(bnb_model: LoadedModel) -> None:
    tokenizer = bnb_model.tokenizer
    prompts = [tokenizer(QUESTION).input_ids, tokenizer("The three primary colours are").input_ids]
    engine = Engine(bnb_model, EngineConfig(kv_cache_bytes=16 * 1024 * 1024, cache=CachePolicy(enabled=False)))
    try:
        streams = [engine.submit(p, SamplingParams(max_tokens=12, temperature=0.0)) for p in prompts]
        outputs = [s.collect()[0] for s in streams]
        alone = engine.submit(prompts[0], SamplingParams(max_tokens=12, temperature=0.0)).collect()[0]
    finally:
        engine.shutdown()
    assert "Paris" in tokenizer.decode(outputs[0].token_ids)
    assert alone.token_ids == outputs[0].token_ids        # batching does not change a greedy answer
    assert len(outputs[1].token_ids) > 0
