"""Our forward passes over the paged KV cache against transformers, on the real models."""
from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, Qwen2Config, Qwen2ForCausalLM

from engine.loader import LoadedModel, wrap
from engine.model_runner import ForwardBatch, ModelRunner

PROMPT = "The capital of France is Paris. The capital of Germany is"
NEW_TOKENS = 24


def hf_continuation(hf_model: Any, prompt: list[int], new_tokens: int = NEW_TOKENS) -> list[int]:
    with torch.inference_mode():
        out = hf_model.generate(torch.tensor([prompt]), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                do_sample=False)
    return out[0, len(prompt):].tolist()


def blocks_for(runner: ModelRunner, length: int, rng: random.Random) -> list[int]:
    """A scattered block table (ids out of order) covering `length` positions."""
    ids = list(range(runner.num_blocks))
    rng.shuffle(ids)
    return ids[: -(-length // runner.block_size)]


def greedy(runner: ModelRunner, prompt: list[int], chunk: int, new_tokens: int = NEW_TOKENS,
           table: list[int] | None = None) -> list[int]:
    """Prefill `prompt` in chunks of `chunk` tokens, then decode greedily one token per step."""
    table = table if table is not None else blocks_for(runner, len(prompt) + new_tokens, random.Random(0))
    for start in range(0, len(prompt), chunk):
        piece = prompt[start:start + chunk]
        logits = runner.forward(ForwardBatch([piece], [start], [table]))
    out: list[int] = []
    position = len(prompt)
    while len(out) < new_tokens:
        out.append(int(logits[0].argmax()))
        logits = runner.forward(ForwardBatch([[out[-1]]], [position], [table]))
        position += 1
    return out


@pytest.fixture(scope="module")
def smol_prompt(smollm2_hf: tuple[Any, Any]) -> list[int]:
    return smollm2_hf[1](PROMPT).input_ids


@pytest.fixture(scope="module")
def smol_reference(smollm2_hf: tuple[Any, Any], smol_prompt: list[int]) -> list[int]:
    return hf_continuation(smollm2_hf[0], smol_prompt)


@pytest.mark.parametrize("chunk, block_size", [(10_000, 16), (5, 3)])
def test_smollm2_greedy_matches_transformers(smollm2_model: LoadedModel, smol_prompt: list[int],
                                             smol_reference: list[int], chunk: int, block_size: int) -> None:
    runner = ModelRunner(smollm2_model, num_blocks=64, block_size=block_size)
    assert greedy(runner, smol_prompt, chunk) == smol_reference


def test_gemma3_greedy_matches_transformers(gemma3_model: LoadedModel, gemma3_hf: tuple[Any, Any]) -> None:
    prompt = gemma3_hf[1](PROMPT).input_ids
    reference = hf_continuation(gemma3_hf[0], prompt)
    runner = ModelRunner(gemma3_model, num_blocks=32, block_size=4)
    assert greedy(runner, prompt, chunk=6) == reference


def test_batch_of_mixed_lengths_equals_each_alone(smollm2_model: LoadedModel) -> None:
    """Prefill chunks and decode tokens of several sequences in one forward give each one's own logits."""
    rng = random.Random(1)
    vocab = smollm2_model.hf_config.vocab_size
    lengths = [3, 17, 1, 40, 9]
    prompts = [[rng.randrange(vocab) for _ in range(n + 1)] for n in lengths]
    alone = ModelRunner(smollm2_model, num_blocks=64, block_size=8)
    together = ModelRunner(smollm2_model, num_blocks=64, block_size=8)
    tables = [blocks_for(alone, len(p), random.Random(i)) for i, p in enumerate(prompts)]
    together_tables = [list(range(8 * i, 8 * i + len(t))) for i, t in enumerate(tables)]
    # step 1: every prompt but its last token; step 2: every sequence decodes one token
    first = together.forward(ForwardBatch([p[:-1] for p in prompts], [0] * len(prompts), together_tables))
    second = together.forward(ForwardBatch([p[-1:] for p in prompts], [len(p) - 1 for p in prompts],
                                           together_tables))
    for i, prompt in enumerate(prompts):
        solo_first = alone.forward(ForwardBatch([prompt[:-1]], [0], [tables[i]]))[0]
        solo_second = alone.forward(ForwardBatch([prompt[-1:]], [len(prompt) - 1], [tables[i]]))[0]
        for batched, solo in ((first[i], solo_first), (second[i], solo_second)):
            assert int(batched.argmax()) == int(solo.argmax())
            torch.testing.assert_close(batched, solo, atol=2e-3, rtol=1e-3)


def test_prefix_from_shared_blocks(smollm2_model: LoadedModel, smol_prompt: list[int]) -> None:
    """A sequence whose first blocks were written by another one sees the same context."""
    runner = ModelRunner(smollm2_model, num_blocks=16, block_size=4)
    shared = len(smol_prompt) // 4 * 4
    owner_table = [0, 1, 2, 3, 4, 5, 6, 7][: -(-len(smol_prompt) // 4)]
    full = runner.forward(ForwardBatch([smol_prompt], [0], [owner_table]))
    reader_table = owner_table[: shared // 4] + [15, 14, 13][: len(owner_table) - shared // 4]
    tail = smol_prompt[shared:] or smol_prompt[-1:]
    start = len(smol_prompt) - len(tail)
    reused = runner.forward(ForwardBatch([tail], [start], [reader_table]))
    torch.testing.assert_close(reused, full, atol=1e-4, rtol=1e-4)


def test_forward_rejects_a_block_table_too_short(smollm2_model: LoadedModel) -> None:
    runner = ModelRunner(smollm2_model, num_blocks=4, block_size=4)
    with pytest.raises(ValueError, match="does not cover positions"):
        runner.forward(ForwardBatch([[1, 2, 3, 4, 5]], [0], [[0]]))
    with pytest.raises(ValueError, match="one entry per sequence"):
        ForwardBatch([[1]], [0, 1], [[0]])


def test_kv_bytes_per_block(smollm2_model: LoadedModel) -> None:
    # 2 (K, V) x 30 layers x 3 kv heads x 64 dims x 16 tokens x 4 bytes
    assert ModelRunner.kv_bytes_per_block(smollm2_model, 16) == 2 * 30 * 3 * 64 * 16 * 4
    assert ModelRunner.kv_bytes_per_block(smollm2_model, 16, torch.float16) == 2 * 30 * 3 * 64 * 16 * 2
    assert ModelRunner.kv_bytes_per_block(smollm2_model, 16, torch.int8) == 2 * 30 * 3 * (64 + 4) * 16   # + scales


def tiny(hf_model: Any, tokenizer: Any) -> LoadedModel:
    return wrap(hf_model.eval(), tokenizer, "tiny", device=torch.device("cpu"))


def hf_last_logits(hf_model: Any, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return hf_model(torch.tensor([ids])).logits[0, -1].float()


@pytest.mark.parametrize("family", ["gemma3_sliding", "qwen2_bias"])
def test_tiny_random_models_match_transformers(family: str, smollm2_hf: tuple[Any, Any]) -> None:
    """Sliding windows (Gemma 3, window 5) and q/k/v biases (Qwen2) on tiny random models."""
    torch.manual_seed(0)
    if family == "gemma3_sliding":
        config = Gemma3TextConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=5,
                                  layer_types=["sliding_attention", "full_attention"] * 2,
                                  max_position_embeddings=128, attn_implementation="eager")
        hf_model = Gemma3ForCausalLM(config)
        for name, p in hf_model.named_parameters():
            if "norm" in name:
                p.data.normal_(0, 0.3)  # (1 + w) norms start at 0: make them matter
    else:
        config = Qwen2Config(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                             attn_implementation="eager")
        hf_model = Qwen2ForCausalLM(config)
        for layer in hf_model.model.layers:
            layer.self_attn.k_proj.bias.data.normal_(0, 0.5)
    model = tiny(hf_model, smollm2_hf[1])
    runner = ModelRunner(model, num_blocks=16, block_size=4)
    ids = torch.randint(0, 300, (23,)).tolist()
    table = [9, 3, 12, 0, 7, 5]
    runner.forward(ForwardBatch([ids[:9]], [0], [table]))
    runner.forward(ForwardBatch([ids[9:20]], [9], [table]))
    for position in range(20, 23):
        ours = runner.forward(ForwardBatch([[ids[position]]], [position], [table]))[0]
        torch.testing.assert_close(ours, hf_last_logits(hf_model, ids[:position + 1]), atol=1e-4, rtol=1e-4)


def test_tiny_llama_batched_decode_matches_transformers(smollm2_hf: tuple[Any, Any]) -> None:
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=128)
    from transformers import LlamaForCausalLM
    hf_model = LlamaForCausalLM(config)
    runner = ModelRunner(tiny(hf_model, smollm2_hf[1]), num_blocks=32, block_size=4)
    prompts = [torch.randint(0, 300, (n,)).tolist() for n in (2, 11, 6)]
    tables = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    runner.forward(ForwardBatch([p[:-1] for p in prompts], [0, 0, 0], tables))
    logits = runner.forward(ForwardBatch([p[-1:] for p in prompts], [len(p) - 1 for p in prompts], tables))
    for i, prompt in enumerate(prompts):
        torch.testing.assert_close(logits[i], hf_last_logits(hf_model, prompt), atol=1e-4, rtol=1e-4)
