"""The planner's figures against hand arithmetic for published configs."""
from __future__ import annotations

import json

import pytest

from engine.planner import (DraftRequest, ModelShape, PlanError, PlanRequest, kv_bytes_per_token, plan, weight_bytes,
                            what_if)

LLAMA2_7B = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 4096, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 32, "intermediate_size": 11008,
             "max_position_embeddings": 4096, "tie_word_embeddings": False}
LLAMA3_8B = {"model_type": "llama", "vocab_size": 128256, "hidden_size": 4096, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
             "max_position_embeddings": 8192, "tie_word_embeddings": False}
MISTRAL_7B = {"model_type": "mistral", "vocab_size": 32000, "hidden_size": 4096, "num_hidden_layers": 32,
              "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
              "max_position_embeddings": 32768, "tie_word_embeddings": False}
SMOLLM2_135M = {"model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "num_hidden_layers": 30,
                "num_attention_heads": 9, "num_key_value_heads": 3, "intermediate_size": 1536,
                "max_position_embeddings": 8192, "tie_word_embeddings": True}
GEMMA3_270M = {"model_type": "gemma3_text", "vocab_size": 262144, "hidden_size": 640, "num_hidden_layers": 18,
               "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "intermediate_size": 2048,
               "max_position_embeddings": 32768}


def test_llama2_7b_parameters_and_kv() -> None:
    embed = 32000 * 4096                                  # 131,072,000; the LM head is the same size
    layer = 4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096  # q,k,v,o + gate,up,down + 2 norms
    total = 2 * embed + 32 * layer + 4096
    assert total == 6_738_415_616
    shape = ModelShape.from_config(LLAMA2_7B)
    assert shape.parameters() == total
    assert weight_bytes(shape, "fp16") == 2 * total
    assert kv_bytes_per_token(shape, "fp16") == 2 * 32 * 32 * 128 * 2 == 524_288


def test_llama3_8b_gqa() -> None:
    embed = 128256 * 4096
    layer = 4096 * (2 * 4096 + 2 * 8 * 128) + 3 * 4096 * 14336 + 2 * 4096
    total = 2 * embed + 32 * layer + 4096
    assert total == 8_030_261_248
    shape = ModelShape.from_config(LLAMA3_8B)
    assert shape.parameters() == total
    assert kv_bytes_per_token(shape, "fp16") == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token(shape, "fp32") == 262_144


def test_mistral_7b() -> None:
    layer = 4096 * (2 * 4096 + 2 * 8 * 128) + 3 * 4096 * 14336 + 2 * 4096
    total = 2 * 32000 * 4096 + 32 * layer + 4096
    assert total == 7_241_732_096
    shape = ModelShape.from_config(MISTRAL_7B)
    assert shape.parameters() == total
    assert weight_bytes(shape, "bf16") == 2 * total
    # CPU int8, untied: the embedding table and the head's packed copy, each int8 + fp32 row scales.
    linear = 4096 * (2 * 4096 + 2 * 8 * 128) + 3 * 4096 * 14336
    rows = 4096 + 2 * 8 * 128 + 4096 + 2 * 14336 + 4096
    table = 32000 * 4096 + 4 * 32000
    assert weight_bytes(shape, "int8", "cpu") == 32 * (linear + 4 * rows) + 2 * table + 4 * (32 * 2 * 4096 + 4096)


def test_smollm2_135m_int8_and_nf4() -> None:
    linear = 576 * (2 * 576 + 2 * 192) + 3 * 576 * 1536      # 3,538,944 per layer
    rows = 576 + 192 + 192 + 576 + 1536 + 1536 + 576           # output rows: one fp32 scale each
    norms = 30 * 2 * 576 + 576
    embed = 49152 * 576                                        # tied: also the LM head
    assert 30 * linear + embed + norms == 134_515_008
    shape = ModelShape.from_config(SMOLLM2_135M)
    assert shape.parameters() == 134_515_008
    # CPU fp32: every tensor in fp32, and the tied head a second time, prepacked for oneDNN.
    assert weight_bytes(shape, "fp32", "cpu") == 4 * (134_515_008 + embed)
    assert weight_bytes(shape, "fp32", "cuda") == 4 * 134_515_008
    # CPU int8: layers int8 + row scales; the tied head reads the embedding's int8 table (row
    # scales, plus one int32 row sum per token for its kernel).
    assert weight_bytes(shape, "int8", "cpu") == 30 * linear + 4 * 30 * rows + embed + 8 * 49152 + 4 * norms
    # CUDA int8 / nf4: embedding (shared with the head) and norms in fp16.
    assert weight_bytes(shape, "int8", "cuda") == 30 * linear + 4 * 30 * rows + 2 * (embed + norms)
    assert weight_bytes(shape, "nf4", "cuda") == 30 * linear // 2 + 30 * linear // 64 + 2 * (embed + norms)
    assert kv_bytes_per_token(shape, "fp32") == 2 * 30 * 3 * 64 * 4 == 46_080


def test_gemma3_270m_norms_and_head_dim() -> None:
    layer = 640 * (2 * 4 * 256 + 2 * 1 * 256) + 3 * 640 * 2048 + 4 * 640 + 2 * 256   # 4 norms + q/k norms
    total = 262144 * 640 + 18 * layer + 640
    assert total == 268_098_176
    shape = ModelShape.from_config(GEMMA3_270M)
    assert shape.parameters() == total
    assert kv_bytes_per_token(shape, "fp16") == 2 * 18 * 1 * 256 * 2 == 18_432


def test_a_drafting_model_counts_its_weights_and_its_kv() -> None:
    """Self-draft on CPU: fp32 SmolLM2 verifies, its int8 copy drafts with fp16 K/V at the same slots.
    A separate draft model (SmolLM2 drafting for Llama-3-8B on a GPU) counts its own shape."""
    smol = ModelShape.from_config(SMOLLM2_135M)
    alone = PlanRequest(quantization="fp32", kv_dtype="fp32", context_length=2048, concurrency=4, budget_bytes=2**32)
    drafted = PlanRequest(**{**_fields(alone), "draft": DraftRequest(quantization="int8", kv_dtype="fp16")})
    a, d = plan(smol, alone), plan(smol, drafted)
    assert d.weight_bytes == a.weight_bytes and d.draft_weight_bytes == weight_bytes(smol, "int8", "cpu")
    assert d.draft_kv_bytes_per_token == 23_040                      # half the fp32 K/V of 46,080 a token
    assert d.kv_bytes == a.kv_bytes * 3 // 2 == 4 * 2048 * (46_080 + 23_040)
    assert d.total_bytes == a.total_bytes + d.draft_weight_bytes + 4 * 2048 * 23_040
    assert d.max_concurrency < a.max_concurrency
    big = ModelShape.from_config(LLAMA3_8B)
    gpu = PlanRequest(quantization="fp16", kv_dtype="fp16", context_length=8192, concurrency=1,
                      budget_bytes=80 * 1024**3, device="cuda:0",
                      draft=DraftRequest(quantization="fp16", kv_dtype="fp16", shape=smol))
    p = plan(big, gpu)
    assert p.draft_weight_bytes == 2 * 134_515_008 and p.draft_kv_bytes_per_token == 2 * 30 * 3 * 64 * 2
    with pytest.raises(PlanError, match="draft quantization"):
        PlanRequest(draft=DraftRequest(quantization="int4"))


def test_fit_max_concurrency_and_max_context() -> None:
    shape = ModelShape.from_config(LLAMA2_7B)
    req = PlanRequest(quantization="fp16", kv_dtype="fp16", context_length=4096, concurrency=8,
                      budget_bytes=int(0.9 * 80 * 1024**3), device="cuda:0")
    p = plan(shape, req)
    assert p.weight_bytes == 2 * 6_738_415_616
    assert p.kv_bytes == 8 * 4096 * 524_288                  # 16 GiB: 4096 is a whole number of blocks
    assert p.total_bytes == p.weight_bytes + p.kv_bytes + p.overhead_bytes
    assert p.fits
    # (72 GiB budget - 12.55 GiB of weights - overhead) / 2 GiB per sequence of 4096 tokens.
    assert p.max_concurrency == (int(0.9 * 80 * 1024**3) - p.weight_bytes - p.overhead_bytes) // 2**31 == 29
    assert plan(shape, PlanRequest(**{**_fields(req), "concurrency": p.max_concurrency})).fits
    assert not plan(shape, PlanRequest(**{**_fields(req), "concurrency": p.max_concurrency + 1})).fits
    assert p.max_context == 4096                              # capped by the model's window
    tight = PlanRequest(**{**_fields(req), "budget_bytes": 16 * 1024**3})
    assert not plan(shape, tight).fits
    assert 0 < plan(shape, tight).max_context < 4096


def test_what_if_orders_quantizations_by_size() -> None:
    shape = ModelShape.from_config(LLAMA3_8B)
    table = {p.quantization: p for p in what_if(shape, PlanRequest(budget_bytes=10 * 1024**3, device="cuda"))}
    assert list(table) == ["fp32", "fp16", "bf16", "int8", "nf4"]
    assert table["fp32"].weight_bytes > table["fp16"].weight_bytes > table["int8"].weight_bytes > table["nf4"].weight_bytes
    assert not table["fp16"].fits and table["nf4"].fits
    assert table["fp16"].max_concurrency == 0


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(PlanError, match="intermediate_size"):
        ModelShape.from_config({k: v for k, v in LLAMA2_7B.items() if k != "intermediate_size"})
    with pytest.raises(PlanError, match="unsupported architecture 'bert'"):
        ModelShape.from_config({**LLAMA2_7B, "model_type": "bert"})
    with pytest.raises(PlanError, match="quantization must be one of"):
        PlanRequest(quantization="int3")
    with pytest.raises(PlanError, match="concurrency must be at least 1"):
        PlanRequest(concurrency=0)


def test_config_json_round_trip(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(MISTRAL_7B))
    assert ModelShape.from_config(json.loads(path.read_text())).parameters() == 7_241_732_096


def _fields(req: PlanRequest) -> dict:
    return {name: getattr(req, name) for name in req.__slots__}
