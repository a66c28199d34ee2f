"""Drafting with a model (self: the int8 copy; draft: a separate model), on the real weights.

The drafter's K/V lives at the target's slots, so what must hold is that its cache is never
read stale: after a preemption, over blocks shared through the prefix cache, after a rollback.
The output is the target's own whatever the drafter guesses; a draft model that does not share
the target's tokenizer is refused at load.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.config import EngineConfig
from engine.errors import InvalidParameter
from engine.llm_engine import Engine
from engine.sampling_params import SamplingParams
from engine.speculation import SpeculationConfig
from engine.speculation.draft_model import check_tokenizers

GREEDY = SamplingParams(max_tokens=48, temperature=0.0)
QUESTIONS = ["Tell me a short story about a dragon who learns to cook.", "What are the benefits of exercise?",
             "Explain how a bicycle works.", "Write a haiku about the sea."]


def _chat(model: Any, text: str) -> list[int]:
    return model.tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                               tokenize=True, return_dict=True)["input_ids"]


def _outputs(engine: Engine, prompts: list[list[int]], params: SamplingParams = GREEDY) -> list[list[int]]:
    streams = [engine.submit(p, params) for p in prompts]
    return [s.collect()[0].token_ids for s in streams]


def test_self_draft_is_exact_through_preemption_and_shared_prefixes(smollm2_model: Any) -> None:
    """A KV pool too small for the batch preempts (the drafter's K/V is dropped with the blocks);
    the same prompt twice shares prompt blocks through the prefix cache (each writes its own
    draft K/V there). Tokens equal the engine without speculation."""
    prompts = [_chat(smollm2_model, q) for q in QUESTIONS] * 2
    small = dict(kv_cache_bytes=28 * 2**20, max_num_seqs=8, max_num_batched_tokens=256)   # 38 blocks of 16 tokens
    plain = Engine(smollm2_model, EngineConfig(**small))
    drafting = Engine(smollm2_model, EngineConfig(**small, speculation=SpeculationConfig(method="self", max_batch=8)))
    try:
        want = _outputs(plain, prompts, SamplingParams(max_tokens=160, temperature=0.0))
        got = _outputs(drafting, prompts, SamplingParams(max_tokens=160, temperature=0.0))
        stats = drafting.stats()
    finally:
        plain.shutdown()
        drafting.shutdown()
    assert got == want
    assert stats.preemptions_total > 0 and stats.cache.hits_tokens > 0
    assert stats.spec_num_accepted_tokens > stats.spec_num_draft_tokens / 2   # the int8 copy agrees mostly
    assert stats.blocks_used == 0


def test_a_draft_model_with_the_same_tokenizer_drafts_and_another_is_refused(smollm2_model: Any,
                                                                             smollm2_path: Path,
                                                                             gemma3_path: Path) -> None:
    prompts = [_chat(smollm2_model, q) for q in QUESTIONS[:2]]
    same_weights = SpeculationConfig(method="draft", draft_model=str(smollm2_path), draft_precision="fp32")
    engine = Engine(smollm2_model, EngineConfig(kv_cache_bytes=16 * 2**20))
    try:
        want = _outputs(engine, prompts)
        engine.set_speculation(same_weights)
        assert _outputs(engine, prompts) == want
        stats = engine.stats()
        assert stats.spec_num_accepted_tokens >= 0.9 * stats.spec_num_draft_tokens > 0   # its own weights agree
        with pytest.raises(InvalidParameter) as refused:
            engine.set_speculation(SpeculationConfig(method="draft", draft_model=str(gemma3_path)))
        message = str(refused.value)
        assert "SmolLM2-135M-Instruct" in message and "gemma-3-270m" in message and "tokens" in message
        assert engine.speculation == same_weights                   # the refused policy was not applied
        assert _outputs(engine, prompts) == want
    finally:
        engine.shutdown()


def test_tokenizer_check_names_what_differs(smollm2_model: Any, gemma3_model: Any) -> None:
    check_tokenizers(smollm2_model, smollm2_model)
    with pytest.raises(InvalidParameter, match=r"49152 tokens.*262144|262144.*49152"):
        check_tokenizers(smollm2_model, gemma3_model)


def test_model_drafting_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="draft_model"):
        SpeculationConfig(method="draft")
    with pytest.raises(ValueError, match="draft_precision"):
        SpeculationConfig(method="self", draft_precision="int4")
    assert SpeculationConfig(method="self").uses_model and not SpeculationConfig(method="ngram").uses_model
