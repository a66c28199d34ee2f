"""Pure decode steps replayed from CUDA graphs: one launch per step instead of hundreds.

A CUDA graph replays fixed shapes from fixed addresses. A pure decode step's shapes are set by
two numbers, its batch B and its longest context L (the K/V gather is [B, L]), so each step is
padded up to a bucket of both before it runs:
- B up to the next batch bucket with dummy sequences: one token at position L_bucket - 1, every
  entry of their block table the runner's scratch block (their K/V writes land there, unread);
- L up to the next length bucket: a dummy's position makes the longest context exactly
  L_bucket (with no dummy room left, the step runs eagerly), and the real sequences' masks hide
  the padded positions.
The real sequences' logits are the first B rows of the padded step's. Padding and bucketing run
on any device (the CPU tests run padded batches eagerly and compare); capture and replay need
CUDA.

Eager instead of a graph (`eager_reason`): not CUDA; not a pure decode step; B or L beyond the
largest bucket; a batch already at its bucket's size with a shorter context (no room for the
dummy that sets L); or a capture that failed once (a host sync in the forward, say: logged,
graphs off for this runner).
"""
from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

if TYPE_CHECKING:
    from engine.attention import AttentionMetadata
    from engine.model_runner import ForwardBatch

log = logging.getLogger(__name__)
Forward = Callable[[torch.Tensor, "AttentionMetadata"], torch.Tensor]


def batch_buckets(max_batch: int) -> list[int]:
    """1, 2, 4, 8, then every 8 up to 64, then every 32: few graphs, little padding."""
    sizes = [1, 2, 4] + list(range(8, 65, 8)) + list(range(96, max(max_batch, 1) + 32, 32))
    return sorted({s for s in sizes if s < max_batch} | {max_batch})


def length_buckets(block_size: int, max_len: int, smallest: int = 256) -> list[int]:
    """Powers of two from `smallest`, whole blocks, the last one max_len (rounded up to a block)."""
    top = math.ceil(max_len / block_size) * block_size
    sizes, size = [], max(block_size, math.ceil(smallest / block_size) * block_size)
    while size < top:
        sizes.append(size)
        size *= 2
    return sizes + [top]


@dataclass(frozen=True, slots=True)
class Bucket:
    batch: int
    length: int


def bucket_for(batch: ForwardBatch, batches: list[int], lengths: list[int]) -> Bucket | str:
    """The bucket a pure decode step pads to, or why it runs eagerly."""
    if any(len(t) != 1 for t in batch.token_ids):
        return "not a pure decode step"
    count, longest = len(batch.token_ids), max(batch.start_positions) + 1
    b, l = bisect.bisect_left(batches, count), bisect.bisect_left(lengths, longest)
    if b == len(batches) or l == len(lengths):
        return "beyond the largest bucket"
    bucket = Bucket(batches[b], lengths[l])
    if bucket.batch == count and longest != bucket.length:
        bucket = Bucket(batches[b + 1], bucket.length) if b + 1 < len(batches) else bucket
    if bucket.batch == count and longest != bucket.length:
        return "no room for the dummy sequence that sets the length"
    return bucket


def pad_decode_batch(batch: ForwardBatch, bucket: Bucket, block_size: int, scratch_block: int) -> ForwardBatch:
    """`batch` with dummy sequences appended up to the bucket (see the module docstring)."""
    from engine.model_runner import ForwardBatch

    dummies = bucket.batch - len(batch.token_ids)
    table = [scratch_block] * math.ceil(bucket.length / block_size)
    return ForwardBatch(token_ids=batch.token_ids + [[0]] * dummies,
                        start_positions=batch.start_positions + [bucket.length - 1] * dummies,
                        block_tables=batch.block_tables + [table] * dummies)


@dataclass(slots=True)
class _Captured:
    graph: torch.cuda.CUDAGraph
    ids: torch.Tensor                     # static inputs, refilled before each replay
    meta: AttentionMetadata
    logits: torch.Tensor                  # static output


class DecodeGraphs:
    """Captures one graph per bucket on first use and replays it (CUDA only)."""

    def __init__(self, forward: Forward, max_batch: int, max_len: int, block_size: int, scratch_block: int,
                 device: torch.device) -> None:
        self.forward = forward
        self.batches = batch_buckets(max_batch)
        self.lengths = length_buckets(block_size, max_len)
        self.block_size, self.scratch_block = block_size, scratch_block
        self.disabled = None if device.type == "cuda" else "not CUDA"
        self._graphs: dict[Bucket, _Captured] = {}
        self._pool = None

    def eager_reason(self, batch: ForwardBatch) -> str | None:
        if self.disabled:
            return self.disabled
        bucket = bucket_for(batch, self.batches, self.lengths)
        return bucket if isinstance(bucket, str) else None

    def padded(self, batch: ForwardBatch) -> tuple[Bucket, ForwardBatch] | None:
        """The bucket and padded batch of a step that a graph can run, else None."""
        bucket = None if self.disabled else bucket_for(batch, self.batches, self.lengths)
        if not isinstance(bucket, Bucket):
            return None
        return bucket, pad_decode_batch(batch, bucket, self.block_size, self.scratch_block)

    def replay(self, bucket: Bucket, ids: torch.Tensor, meta: AttentionMetadata, real_rows: int) -> torch.Tensor | None:
        """Logits of the first `real_rows` sequences, or None when graphs turned out not to work."""
        captured = self._graphs.get(bucket) or self._capture(bucket, ids, meta)
        if captured is None:
            return None
        captured.ids.copy_(ids)
        _copy_meta(captured.meta, meta)
        captured.graph.replay()
        return captured.logits[:real_rows]

    def _capture(self, bucket: Bucket, ids: torch.Tensor, meta: AttentionMetadata) -> _Captured | None:
        try:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side), torch.inference_mode():
                for _ in range(2):                                     # warm-up outside the graph
                    self.forward(ids, meta)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self._pool), torch.inference_mode():
                logits = self.forward(ids, meta)
        except Exception as exc:  # a forward that cannot be captured: keep serving, eagerly
            self.disabled = f"capture failed: {type(exc).__name__}: {exc}"
            log.warning("CUDA graphs off for this model: %s", self.disabled)
            return None
        self._pool = graph.pool()
        self._graphs[bucket] = _Captured(graph, ids, meta, logits)
        return self._graphs[bucket]


def _copy_meta(static: AttentionMetadata, new: AttentionMetadata) -> None:
    static.slot_mapping.copy_(new.slot_mapping)
    static.positions.copy_(new.positions)
    static.last_rows.copy_(new.last_rows)
    static.decode.gather.copy_(new.decode.gather)
    static.decode.lengths.copy_(new.decode.lengths)
    for window, mask in new.decode.masks.items():
        static.decode.masks[window].copy_(mask)
