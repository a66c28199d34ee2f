"""Drafting with a model: the served model's int8 copy (`self`) or a smaller model (`draft`).

The scheduler reserves a sequence's draft positions before the step (their count is what it
budgets and allocates blocks for); in the step, before the target's forward, the drafting
model fills them with its greedy tokens, one forward per draft position over every drafting
sequence at once. A greedy guess is a point guess, so verification stays lossless for sampled
requests too (engine/speculation/verifier.py).

Invariants:
- The drafter's K/V cache has the target's block count and block size, so a sequence's block
  table addresses both caches; the drafter writes its K/V at the target's slots.
- DraftStats.draft_kv counts the leading tokens whose K/V the drafter holds. It is valid for
  one residency of the sequence's blocks (a preemption frees them: DraftStats.residency is
  compared with Sequence.preemptions) and never above the target's num_computed, since
  positions past that were rejected drafts (their blocks may be freed and reused).
- A sequence only reads drafter K/V it wrote itself in this residency (it catches up from
  draft_kv), so blocks shared through the prefix cache, or reused after a free, are safe:
  another sequence writing a shared block writes the same tokens at the same positions.
"""
from __future__ import annotations

import itertools

import torch

from engine.loader import LoadedModel
from engine.model_runner import ForwardBatch, ModelRunner
from engine.sampler import greedy_tokens
from engine.sequence import Sequence
from engine.speculation.policy import stats_of

RESERVED = 0            # a draft position the scheduler has budgeted and the drafter has not filled yet
_SPLIT_CATCH_UP = 4     # catch-ups up to this long run as one-token rows, keeping the step a decode step


class ModelDrafter:
    def __init__(self, model: LoadedModel, num_blocks: int, block_size: int, kv_dtype: torch.dtype | None,
                 vocab_size: int) -> None:
        self.model = model
        self.runner = ModelRunner(model, num_blocks, block_size, kv_dtype)
        self.vocab_size = vocab_size           # the target's: a guess outside it could not be verified

    @property
    def max_model_len(self) -> int:
        return self.model.max_model_len

    def kv_bytes(self) -> int:
        return self.runner.kv_cache.numel() * self.runner.kv_cache.element_size()

    def fill(self, seqs: list[Sequence]) -> None:
        """Replace the reserved draft positions of seqs (decoding sequences) with greedy guesses."""
        active = [s for s in seqs if s.draft_token_ids]
        if not active:
            return
        batch, last_rows = _catch_up_batch(active)
        for j in itertools.count():
            logits = self.runner.forward(batch)[last_rows, :self.vocab_size]
            for seq, token in zip(active, greedy_tokens(logits).tolist()):
                seq.draft_token_ids[j] = token
            active = [s for s in active if len(s.draft_token_ids) > j + 1]
            if not active:
                break
            batch, last_rows = _next_draft_batch(active, j), list(range(len(active)))
        for seq in seqs:
            if seq.draft_token_ids:   # K/V of the last token and of every draft but the last
                stats_of(seq).draft_kv = seq.num_computed + len(seq.draft_token_ids)


def _catch_up_batch(seqs: list[Sequence]) -> tuple[ForwardBatch, list[int]]:
    """Rows that bring the drafter's K/V up to each sequence's last token, and each one's last row."""
    token_ids, starts, tables, last_rows = [], [], [], []
    for seq in seqs:
        start = _valid_draft_kv(seq)
        tokens = seq.token_ids[start:seq.num_computed + 1]
        pieces = [[t] for t in tokens] if len(tokens) <= _SPLIT_CATCH_UP else [tokens]
        for i, piece in enumerate(pieces):
            token_ids.append(piece)
            starts.append(start + (i if len(pieces) > 1 else 0))
            tables.append(seq.block_table)
        last_rows.append(len(token_ids) - 1)
    return ForwardBatch(token_ids=token_ids, start_positions=starts, block_tables=tables), last_rows


def _next_draft_batch(seqs: list[Sequence], j: int) -> ForwardBatch:
    """One row per sequence: draft j at its position, to guess draft j + 1."""
    return ForwardBatch(token_ids=[[s.draft_token_ids[j]] for s in seqs],
                        start_positions=[s.num_computed + 1 + j for s in seqs],
                        block_tables=[s.block_table for s in seqs])


def _valid_draft_kv(seq: Sequence) -> int:
    stats = stats_of(seq)
    if stats.residency != seq.preemptions:
        stats.residency, stats.draft_kv = seq.preemptions, 0
    return min(stats.draft_kv, seq.num_computed)
