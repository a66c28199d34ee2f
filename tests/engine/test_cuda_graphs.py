"""CUDA-graph decode, everything but capture and replay: buckets, padding (run eagerly here on
the real SmolLM2: the real rows' logits do not change), and when a step stays eager."""
from __future__ import annotations

import torch

from engine.cuda_graphs import Bucket, DecodeGraphs, batch_buckets, bucket_for, length_buckets, pad_decode_batch
from engine.loader import LoadedModel
from engine.model_runner import ForwardBatch, ModelRunner

BLOCK = 16


def test_buckets_cover_every_size_once() -> None:
    assert batch_buckets(128) == [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 96, 128]
    assert batch_buckets(3) == [1, 2, 3]
    assert length_buckets(16, 2048) == [256, 512, 1024, 2048]
    assert length_buckets(16, 1000) == [256, 512, 1008]


def test_bucket_choice_and_the_eager_cases() -> None:
    batches, lengths = [1, 2, 4], [256, 512]

    def step(starts: list[int]) -> ForwardBatch:
        return ForwardBatch([[1]] * len(starts), starts, [[0] * 32] * len(starts))

    assert bucket_for(step([10, 20, 30]), batches, lengths) == Bucket(4, 256)
    assert bucket_for(step([10, 300]), batches, lengths) == Bucket(4, 512)   # a dummy must set L: one more row
    assert bucket_for(step([255, 255]), batches, lengths) == Bucket(2, 256)  # already the bucket's shape
    assert bucket_for(step([1, 2, 3, 4]), batches, lengths) == "no room for the dummy sequence that sets the length"
    assert bucket_for(step([1] * 5), batches, lengths) == "beyond the largest bucket"
    assert bucket_for(step([600]), batches, lengths) == "beyond the largest bucket"
    prefill = ForwardBatch([[1, 2, 3]], [0], [[0]])
    assert bucket_for(prefill, batches, lengths) == "not a pure decode step"


def test_graphs_stay_off_on_cpu(smollm2_model: LoadedModel) -> None:
    runner = ModelRunner(smollm2_model, 8, BLOCK, cuda_graphs=True)
    assert runner.graphs is None and runner.kv_cache.shape[2] == 8 * BLOCK
    graphs = DecodeGraphs(runner._run, 8, 256, BLOCK, 7, torch.device("cpu"))
    assert graphs.eager_reason(ForwardBatch([[1]], [0], [[0]])) == "not CUDA"


def test_padding_leaves_the_real_rows_unchanged(smollm2_model: LoadedModel) -> None:
    """Three sequences prefilled, then one decode step alone and padded to a (4, 256) bucket."""
    runner = ModelRunner(smollm2_model, 24, BLOCK)
    scratch = 23
    tokenizer = smollm2_model.tokenizer
    prompts = [tokenizer(t).input_ids for t in ("The river town", "A short note about the harbour at night",
                                                "Solar panels on the library roof")]
    tables = [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(3)]
    runner.forward(ForwardBatch(prompts, [0, 0, 0], tables))
    step = ForwardBatch([[tokenizer(" and").input_ids[0]]] * 3, [len(p) for p in prompts], tables)
    bucket = bucket_for(step, batch_buckets(8), length_buckets(BLOCK, 256))
    assert bucket == Bucket(4, 256)
    padded = pad_decode_batch(step, bucket, BLOCK, scratch)
    assert padded.start_positions[-1] == 255 and set(padded.block_tables[-1]) == {scratch}
    alone = runner.forward(step)
    together = runner.forward(padded)
    assert together.shape[0] == 4
    torch.testing.assert_close(together[:3], alone, rtol=1e-4, atol=1e-4)
    assert torch.equal(together[:3].argmax(-1), alone.argmax(-1))
