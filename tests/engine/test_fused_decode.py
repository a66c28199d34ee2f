"""The fused decode step (engine/fused_decode.py) against the Python layers it replaces.

The C++ step calls the same fbgemm (int8) or oneDNN (fp32, bf16) products, the same kernels and
torch's own silu, and rounds the rotary embedding as torch does, so logits and the K/V cache
must match bit for bit."""
from __future__ import annotations

import pytest
import torch

from engine import attention, fused_decode
from engine.kernels import cpu_kernels
from engine.loader import LoadedModel
from engine.model_runner import ForwardBatch, ModelRunner

pytestmark = pytest.mark.skipif(cpu_kernels() is None, reason="no C++ compiler: the torch path runs instead")


def greedy_steps(model: LoadedModel, fused: bool, prompts: list[list[int]], steps: int,
                 kv_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Prefill `prompts` (Python layers), then `steps` greedy decode steps for all of them at once:
    (logits of every step [steps, B, vocab], the KV cache)."""
    module = model.module
    saved = module.fused_decode
    module.fused_decode = saved if fused else None
    try:
        runner = ModelRunner(model, num_blocks=64, block_size=4, kv_dtype=kv_dtype)
        tables = [list(range(60 - 8 * i, 60 - 8 * i - 8, -1)) for i in range(len(prompts))]  # scattered, reversed
        logits = runner.forward(ForwardBatch(prompts, [0] * len(prompts), tables))
        positions = [len(p) for p in prompts]
        steps_logits = []
        for _ in range(steps):
            tokens = [[int(t)] for t in logits.argmax(-1)]
            logits = runner.forward(ForwardBatch(tokens, positions, tables))
            steps_logits.append(logits)
            positions = [p + 1 for p in positions]
        return torch.stack(steps_logits), runner.kv_cache
    finally:
        module.fused_decode = saved


@pytest.fixture(params=["int8", "fp32", "bf16"])
def smollm2(request: pytest.FixtureRequest) -> LoadedModel:
    return request.getfixturevalue({"int8": "smollm2_int8", "fp32": "smollm2_model",
                                    "bf16": "smollm2_bf16"}[request.param])


def test_llama_decodes_fused(smollm2: LoadedModel) -> None:
    assert smollm2.module.fused_decode is not None


@pytest.mark.parametrize("kv_dtype", [None, torch.float16, torch.bfloat16, torch.int8])
def test_fused_matches_python_layers_bit_for_bit(smollm2: LoadedModel, kv_dtype: torch.dtype | None) -> None:
    """Also with a narrower KV cache: both paths round (or quantize) K/V the same way as they write."""
    tokenizer = smollm2.tokenizer
    texts = ["The capital of France is", "def fib(n):", "Once upon", "1, 2, 3, 4, 5,", "Hi"]
    prompts = [tokenizer(t).input_ids for t in texts]           # ragged lengths, one batch
    fused_logits, fused_cache = greedy_steps(smollm2, True, prompts, 12, kv_dtype)
    python_logits, python_cache = greedy_steps(smollm2, False, prompts, 12, kv_dtype)
    assert torch.equal(fused_logits, python_logits)
    assert torch.equal(fused_cache, python_cache)


def test_fused_single_sequence(smollm2: LoadedModel) -> None:
    prompt = [smollm2.tokenizer("Water boils at").input_ids]
    assert torch.equal(greedy_steps(smollm2, True, prompt, 6)[0], greedy_steps(smollm2, False, prompt, 6)[0])


def test_mixed_steps_with_short_prefills_run_fused_bit_for_bit(smollm2: LoadedModel, monkeypatch) -> None:
    """Decodes, a new prompt and a follow-up turn after a cached prefix in one step: every token
    attends through the decode kernel, so the fused step runs it, as the Python layers would; a
    chunk the kernel does not take sends the step back to the Python layers."""
    tokenizer = smollm2.tokenizer
    first = [tokenizer(t).input_ids for t in ("The capital of France is", "def fib(n):")]
    joining = tokenizer("Once upon a time").input_ids
    follow_up = tokenizer(" and then the rain came down on the old town").input_ids
    tables = [list(range(60 - 8 * i, 60 - 8 * i - 8, -1)) for i in range(3)]
    calls: list[int] = []

    def run(fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
        module = smollm2.module
        saved = module.fused_decode
        module.fused_decode = (lambda *a: calls.append(len(a[0])) or saved(*a)) if fused else None
        try:
            runner = ModelRunner(smollm2, num_blocks=64, block_size=4)
            logits = runner.forward(ForwardBatch(first, [0, 0], tables[:2]))
            tokens = [[int(t)] for t in logits.argmax(-1)]
            mixed = ForwardBatch([tokens[0], joining, tokens[1] + follow_up],
                                 [len(first[0]), 0, len(first[1])], [tables[0], tables[2], tables[1]])
            return runner.forward(mixed), runner.kv_cache
        finally:
            module.fused_decode = saved

    fused_logits, fused_cache = run(True)
    assert calls == [sum(map(len, first)), 1 + len(joining) + 1 + len(follow_up)]   # both steps fused
    python_logits, python_cache = run(False)
    assert torch.equal(fused_logits, python_logits) and torch.equal(fused_cache, python_cache)
    monkeypatch.setattr(attention, "SHORT_PREFILL", len(follow_up))                 # the follow-up is now long
    monkeypatch.setattr(attention, "SMALL_PREFILL_WORK", 0)
    calls.clear()
    run(True)
    assert calls == [sum(map(len, first))]


def test_other_layers_keep_the_python_path(gemma3_model: LoadedModel) -> None:
    """Gemma 3's layers (four norms, q/k norms, two rotary tables) are not fused."""
    assert gemma3_model.module.fused_decode is None and not fused_decode.supports(gemma3_model.module)


@pytest.mark.parametrize(("slot", "cache_shape", "message"), [
    (10 ** 9, None, "slots holds slot 1000000000"),
    (-1, None, "slots holds slot -1"),
    (0, (16, 1, 64), "caches must be \\[slots, "),
])
def test_fused_decoder_refuses_bad_slots_and_cache_shapes(smollm2_model: LoadedModel, slot: int,
                                                          cache_shape: tuple | None, message: str) -> None:
    """A slot outside the KV cache or a cache of the wrong shape is an exception, not a write past the cache."""
    fused = fused_decode.build(smollm2_model.module)
    assert fused is not None
    first = smollm2_model.module.layers[0]
    shape = cache_shape or (16, first.kv_heads, first.head_dim)
    caches = [torch.zeros(shape) for _ in smollm2_model.module.layers]
    hidden = torch.zeros(1, first.input_norm.weight.numel())
    cos, sin = torch.ones(1, first.head_dim), torch.zeros(1, first.head_dim)
    with pytest.raises(RuntimeError, match=message):
        fused._decoder.forward(hidden, caches, caches, torch.tensor([slot]), torch.tensor([[0]]),
                               torch.tensor([1]), cos, sin)
