"""The model runner: owns the paged KV cache and runs one forward over a batch of sequences.

All scheduled sequences go through the model as one flat [total_tokens, hidden] batch (prefill
chunks and single decode tokens alike); only each sequence's last token reaches the LM head.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine import kv_format
from engine.attention import AttentionMetadata, build_metadata
from engine.cuda_graphs import DecodeGraphs
from engine.kernels import cpu_kernels
from engine.loader import LoadedModel


@dataclass(slots=True)
class ForwardBatch:
    token_ids: list[list[int]]       # per sequence: tokens to compute this step
    start_positions: list[int]       # per sequence: position of token_ids[i][0] (tokens already cached)
    block_tables: list[list[int]]    # per sequence: KV block ids covering positions [0, start + len)

    def __post_init__(self) -> None:
        if not (len(self.token_ids) == len(self.start_positions) == len(self.block_tables)):
            raise ValueError("token_ids, start_positions and block_tables must have one entry per sequence")
        if not self.token_ids or any(len(t) == 0 for t in self.token_ids):
            raise ValueError("every sequence in a batch needs at least one token")


class ModelRunner:
    def __init__(self, model: LoadedModel, num_blocks: int, block_size: int,
                 kv_dtype: torch.dtype | None = None, cuda_graphs: bool = False, max_batch: int = 128) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"num_blocks and block_size must be positive, got {num_blocks} and {block_size}")
        self.model = model
        self.module = model.module
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.kv_dtype = kv_dtype or model.dtype
        self.windows = self.module.windows
        self.graphs = None
        if cuda_graphs and model.device.type == "cuda":   # one block more: the scratch block of padding
            self.graphs = DecodeGraphs(self._run, max_batch, model.max_model_len, block_size, num_blocks,
                                       model.device)
        total_blocks = num_blocks + (self.graphs is not None)
        shape = (len(self.module.layers), 2, total_blocks * block_size, self.module.num_kv_heads,
                 kv_format.row_width(self.module.head_dim, self.kv_dtype))
        self.kv_cache = torch.zeros(shape, dtype=self.kv_dtype, device=model.device)
        self.kv_caches = [(layer[0], layer[1]) for layer in self.kv_cache]
        if model.device.type == "cpu" and model.dtype == torch.float32:
            cpu_kernels()  # build (once per machine) or load now, not on a request

    @staticmethod
    def kv_bytes_per_block(model: LoadedModel, block_size: int, kv_dtype: torch.dtype | None = None) -> int:
        module = model.module
        row = kv_format.row_bytes(module.head_dim, kv_dtype or model.dtype)
        return 2 * len(module.layers) * module.num_kv_heads * row * block_size

    def forward(self, batch: ForwardBatch) -> torch.Tensor:
        """float32 logits [num_seqs, vocab] of each sequence's last token."""
        self._check(batch)
        padded = self.graphs.padded(batch) if self.graphs is not None else None
        if padded is not None:
            bucket, step = padded
            logits = self.graphs.replay(bucket, *self._inputs(step), real_rows=len(batch.token_ids))
            if logits is not None:
                return logits
        return self._run(*self._inputs(batch))

    def _inputs(self, batch: ForwardBatch) -> tuple[torch.Tensor, AttentionMetadata]:
        counts = [len(t) for t in batch.token_ids]
        meta = build_metadata(counts, batch.start_positions, batch.block_tables, self.block_size,
                              self.windows, self.model.device)
        ids = torch.tensor([t for seq in batch.token_ids for t in seq], dtype=torch.long, device=self.model.device)
        return ids, meta

    def _run(self, ids: torch.Tensor, meta: AttentionMetadata) -> torch.Tensor:
        with torch.inference_mode():
            return self.module.logits(self.module(ids, meta, self.kv_caches))

    def _check(self, batch: ForwardBatch) -> None:
        for i, (tokens, start, table) in enumerate(zip(batch.token_ids, batch.start_positions, batch.block_tables)):
            end = start + len(tokens)
            if start < 0 or len(table) * self.block_size < end:
                raise ValueError(f"sequence {i}: block table of {len(table)} blocks does not cover positions "
                                 f"[0, {end}) with block size {self.block_size}")
            if end > self.model.max_model_len:
                raise ValueError(f"sequence {i}: {end} positions exceed max_model_len {self.model.max_model_len}")
            if table and (min(table) < 0 or max(table) >= self.num_blocks):
                raise ValueError(f"sequence {i}: block ids must be in [0, {self.num_blocks})")
