"""fp16 and bf16 compute on CPU through the engine's generic layers (the code CUDA runs):
greedy tokens equal transformers' in the same dtype, alone and beside another request."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.config import CachePolicy, EngineConfig
from engine.llm_engine import Engine
from engine.loader import wrap
from engine.sampling_params import SamplingParams

QUESTION = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
OTHER = "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_greedy_tokens_equal_transformers(dtype: torch.dtype, smollm2_hf: tuple[Any, Any], smollm2_path: Path) -> None:
    hf_model, tokenizer = smollm2_hf
    reference = copy.deepcopy(hf_model).to(dtype)
    # wrap shares (and so converts) the transformers model's parameters: give it a copy, never
    # the session's fp32 model that other tests compare against
    model = wrap(copy.deepcopy(hf_model), tokenizer, smollm2_path, device=torch.device("cpu"), compute_dtype=dtype)
    assert next(model.module.parameters()).dtype == dtype
    assert next(hf_model.parameters()).dtype == torch.float32
    prompt = tokenizer(QUESTION).input_ids
    ids = torch.tensor([prompt])
    with torch.inference_mode():
        expected = reference.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12,
                                      do_sample=False, eos_token_id=-1, pad_token_id=0)[0, len(prompt):].tolist()
    del reference
    engine = Engine(model, EngineConfig(kv_cache_bytes=16 * 1024 * 1024, cache=CachePolicy(enabled=False)))
    try:
        greedy = SamplingParams(max_tokens=12, temperature=0.0, ignore_eos=True)
        streams = [engine.submit(p, greedy) for p in (prompt, tokenizer(OTHER).input_ids)]
        batched = streams[0].collect()[0].token_ids
        streams[1].collect()
        alone = engine.submit(prompt, greedy).collect()[0].token_ids
    finally:
        engine.shutdown()
    assert alone == expected, (tokenizer.decode(alone), tokenizer.decode(expected))
    assert batched == expected
    assert "Paris" in tokenizer.decode(expected)
