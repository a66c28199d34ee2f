"""The model runner: owns the paged KV cache and runs one forward over a batch of sequences.

All scheduled sequences go through the model as one flat [total_tokens, hidden] batch (prefill
chunks and single decode tokens alike); only each sequence's last token reaches the LM head.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.attention import build_metadata
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
                 kv_dtype: torch.dtype | None = None) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"num_blocks and block_size must be positive, got {num_blocks} and {block_size}")
        self.model = model
        self.module = model.module
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.kv_dtype = kv_dtype or model.dtype
        self.windows = self.module.windows
        shape = (len(self.module.layers), 2, num_blocks * block_size, self.module.num_kv_heads, self.module.head_dim)
        self.kv_cache = torch.zeros(shape, dtype=self.kv_dtype, device=model.device)
        self.kv_caches = [(layer[0], layer[1]) for layer in self.kv_cache]
        if model.device.type == "cpu" and model.dtype == torch.float32:
            cpu_kernels()  # build (once per machine) or load now, not on a request

    @staticmethod
    def kv_bytes_per_block(model: LoadedModel, block_size: int, kv_dtype: torch.dtype | None = None) -> int:
        module = model.module
        element = (kv_dtype or model.dtype).itemsize
        return 2 * len(module.layers) * module.num_kv_heads * module.head_dim * block_size * element

    def forward(self, batch: ForwardBatch) -> torch.Tensor:
        """float32 logits [num_seqs, vocab] of each sequence's last token."""
        self._check(batch)
        counts = [len(t) for t in batch.token_ids]
        meta = build_metadata(counts, batch.start_positions, batch.block_tables, self.block_size,
                              self.windows, self.model.device)
        ids = torch.tensor([t for seq in batch.token_ids for t in seq], dtype=torch.long, device=self.model.device)
        with torch.inference_mode():
            hidden = self.module(ids, meta, self.kv_caches)
            return self.module.logits(hidden)

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
