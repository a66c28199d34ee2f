"""int8 weights on CPU (fbgemm) against fp32; bitsandbytes int8/nf4 where a GPU is present."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from engine import planner
from engine.loader import LoadedModel, load_model, wrap
from engine.model_runner import ForwardBatch, ModelRunner
from engine.models import build_model
from engine import quantization
from engine.quantization import (Int8Embedding, Int8Linear, Int8TiedHead, quantize, quantize_rows, weight_levels,
                                 weight_bytes)

PROMPT = "Here is a short story about a robot who learns to paint:"


def kl(reference: torch.Tensor, other: torch.Tensor) -> float:
    p, q = torch.log_softmax(reference, -1), torch.log_softmax(other, -1)
    return float((p.exp() * (p - q)).sum())


def greedy(model: LoadedModel, prompt: list[int], new_tokens: int,
           forced: list[int] | None = None) -> tuple[list[int], list[torch.Tensor]]:
    """Greedy decoding, one token per step; with `forced`, those tokens are fed instead of the
    model's own choices (teacher forcing), so two models can be compared position by position."""
    runner = ModelRunner(model, num_blocks=16, block_size=16)
    table = list(range(16))
    logits = runner.forward(ForwardBatch([prompt], [0], [table]))
    tokens, all_logits = [], [logits[0]]
    for step, position in enumerate(range(len(prompt), len(prompt) + new_tokens - 1)):
        tokens.append(int(logits[0].argmax()))
        fed = forced[step] if forced is not None else tokens[-1]
        logits = runner.forward(ForwardBatch([[fed]], [position], [table]))
        all_logits.append(logits[0])
    tokens.append(int(logits[0].argmax()))
    return tokens, all_logits


def test_int8_follows_fp32(smollm2_model: LoadedModel, smollm2_int8: LoadedModel) -> None:
    """Along fp32's greedy continuation, int8 picks fp32's token wherever fp32 is decided (leads
    its second choice by 0.5 nats or more; where fp32 is nearly split, rounding may tip int8)
    and its distributions stay close."""
    prompt = smollm2_model.tokenizer(PROMPT).input_ids
    fp32_tokens, fp32_logits = greedy(smollm2_model, prompt, 12)
    int8_tokens, int8_logits = greedy(smollm2_int8, prompt, 12, forced=fp32_tokens)
    decided = [i for i, logits in enumerate(fp32_logits)
               if float(torch.topk(logits.log_softmax(-1), 2).values.diff().neg()) >= 0.5]
    assert len(decided) >= 8
    assert [int8_tokens[i] for i in decided] == [fp32_tokens[i] for i in decided]
    # about 0.2 nats at the first position without smoothing
    assert kl(fp32_logits[0], int8_logits[0]) < 0.15
    assert sum(kl(f, q) for f, q in zip(fp32_logits, int8_logits)) / len(fp32_logits) < 0.15


def test_int8_holds_half_of_fp16_as_planned(smollm2_int8: LoadedModel) -> None:
    int8 = smollm2_int8.weight_bytes()
    shape = planner.ModelShape.from_config(smollm2_int8.hf_config.to_dict())
    # layers 1 byte/weight, one int8 table for the embedding and the tied head: about 136 MB
    assert int8 == planner.weight_bytes(shape, "int8", "cpu")
    assert int8 < 0.55 * planner.weight_bytes(shape, "fp16")
    module = smollm2_int8.module
    assert smollm2_int8.precision == "int8"
    assert isinstance(module.lm_head, Int8TiedHead) and module.lm_head.qweight is module.embed_tokens.qweight
    assert any(isinstance(m, Int8Linear) for m in module.modules())
    assert not any(isinstance(m, nn.Linear) for m in module.modules())


@pytest.mark.parametrize("tied", [True, False])
def test_tied_head_reads_the_embedding_table(tied: bool) -> None:
    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=tied)
    torch.manual_seed(0)
    module = build_model(LlamaForCausalLM(config).eval())
    table = module.embed_tokens.weight.detach().clone()
    x = torch.randn(3, 64)
    expected = module.lm_head(x).detach()
    quantize(module, "int8", torch.device("cpu"))
    assert isinstance(module.lm_head, Int8TiedHead if tied else Int8Linear)
    got = module.lm_head(x)
    assert float((got - expected).norm() / expected.norm()) < 0.03
    if tied:  # one table at the kernel's levels: the head's, and the embedding's rows within half a step
        levels = weight_levels()
        assert module.lm_head.qweight is module.embed_tokens.qweight
        assert int(module.embed_tokens.qweight.abs().max()) == levels
        ids = torch.tensor([0, 5, 299])
        torch.testing.assert_close(module.embed_tokens(ids), table[ids], atol=float(table.abs().max()) / (2 * levels),
                                   rtol=0)
    shape = planner.ModelShape.from_config(config.to_dict())
    assert weight_bytes(module) == planner.weight_bytes(shape, "int8", "cpu")


def test_tied_head_without_kernels_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch path (no compiler, AIRLOCK_TORCH_ONLY=1) does the kernel's arithmetic."""
    torch.manual_seed(0)
    head = Int8TiedHead(Int8Embedding(torch.randn(300, 64), torch.float32, weight_levels()))
    x = torch.randn(2, 5, 64)
    with_kernels = head(x)
    monkeypatch.setattr(quantization, "kernels_for", lambda *tensors: None)
    without = head(x)
    assert without.shape == (2, 5, 300)
    torch.testing.assert_close(without, with_kernels, atol=1e-6, rtol=1e-6)


def test_int8_linear_close_to_fp32() -> None:
    torch.manual_seed(0)
    linear = nn.Linear(256, 96, bias=True)
    x = torch.randn(5, 256)
    expected = linear(x).detach()
    got = Int8Linear(linear)(x)
    assert got.shape == expected.shape
    assert float((got - expected).norm() / expected.norm()) < 0.02


def test_int8_embedding_rows() -> None:
    torch.manual_seed(0)
    weight = torch.randn(50, 32)
    embed = Int8Embedding(weight, torch.float32)
    ids = torch.tensor([0, 7, 49, 7])
    torch.testing.assert_close(embed(ids), weight[ids], atol=weight.abs().max().item() / 127, rtol=0)
    qweight, scale = quantize_rows(weight)
    assert qweight.dtype == torch.int8 and scale.shape == (50,)


def test_int8_batched_close_to_alone(smollm2_int8: LoadedModel) -> None:
    texts = ["Hello", "The capital of France is Paris. The capital of Germany is", "def add(a, b):"]
    prompts = [smollm2_int8.tokenizer(t).input_ids for t in texts]
    runner = ModelRunner(smollm2_int8, num_blocks=8, block_size=16)
    batched = runner.forward(ForwardBatch(prompts, [0, 0, 0], [[0], [1], [2]]))
    for i, prompt in enumerate(prompts):
        alone = runner.forward(ForwardBatch([prompt], [0], [[3 + i]]))[0]
        # Activations are quantized with one scale per call, so batch-mates shift the result a
        # little (enough to flip a near-tie): int8 on CPU is close to, not exactly, batch-invariant.
        assert kl(alone, batched[i]) < 0.3


@pytest.mark.cuda
@pytest.mark.parametrize("precision", [None, "int8", "nf4"])
def test_cuda_quantized_follows_full_precision(smollm2_path: Path, smollm2_model: LoadedModel,
                                               precision: str | None) -> None:
    model = load_model(smollm2_path, device="cuda", precision=precision)
    assert model.dtype in (torch.float16, torch.bfloat16)
    prompt = model.tokenizer(PROMPT).input_ids
    reference, _ = greedy(smollm2_model, prompt, 4)
    tokens, _ = greedy(model, prompt, 4)
    assert tokens[:2] == reference[:2]
    fp16_bytes = planner.weight_bytes(planner.ModelShape.from_config(model.hf_config.to_dict()), "fp16", "cuda")
    limit = {"none": 1.01, "int8": 0.75, "nf4": 0.6}[quantization]  # embedding/head stay 16-bit
    assert model.weight_bytes() <= limit * fp16_bytes


def test_smoothing_keeps_the_fp32_function(smollm2_hf: tuple[Any, Any], smollm2_path: Path,
                                           smollm2_model: LoadedModel) -> None:
    from engine.quantization import CALIBRATION_TEXT, smooth
    hf_model, tokenizer = smollm2_hf
    module = build_model(hf_model).float().eval()   # plain nn.Linear layers, as int8 loading smooths them
    smooth(module, tokenizer(CALIBRATION_TEXT).input_ids)
    smoothed = dataclasses.replace(smollm2_model, module=module)
    prompt = tokenizer(PROMPT).input_ids
    table = [[0, 1, 2, 3]]
    before = ModelRunner(smollm2_model, 4, 16).forward(ForwardBatch([prompt], [0], table))
    after = ModelRunner(smoothed, 4, 16).forward(ForwardBatch([prompt], [0], table))
    torch.testing.assert_close(after, before, atol=2e-3, rtol=1e-3)
