"""Speculation in the engine's step: draft before scheduling, verify after the forward pass.

Invariants:
- Drafts live in Sequence.draft_token_ids between proposing and postprocessing; they are
  never part of token_ids until accepted, so prefix-cache hashes (over computed token_ids)
  only ever cover committed tokens.
- Only decoding sequences draft (one uncomputed token, prompt done), and never past the
  request's max_tokens or the engine's context length.
- A drafting sequence is forwarded as 1 + d one-token rows at consecutive positions sharing
  its block table: each layer writes every row's K/V before any row attends, so row j sees
  the drafts before it, exactly as a prefill chunk would, while the whole batch stays a
  decode batch (the fused decode path and the decode attention kernel apply).
- After verification the sequence keeps the K/V of its last token and its accepted drafts;
  the scheduler frees the blocks past the tokens it keeps (Scheduler.rollback).
- A proposer guesses under the engine's lock, before scheduling. A drafting model cannot (it
  runs a forward per draft position), so its positions are reserved then and filled in the
  step, outside the lock, before the target's forward (model_drafter.py).
"""
from __future__ import annotations

import torch

from engine.model_runner import ForwardBatch, ModelRunner
from engine.sampler import SampledToken, Sampler
from engine.sequence import Sequence
from engine.speculation.config import SpeculationConfig
from engine.speculation.ngram import NgramProposer
from engine.speculation.model_drafter import RESERVED, ModelDrafter
from engine.speculation.policy import stats_of, step_k
from engine.speculation.proposer import Proposer
from engine.speculation.verifier import verify


def make_proposer(config: SpeculationConfig) -> Proposer | None:
    if config.method == "ngram":
        return NgramProposer(config.ngram_min, config.ngram_max)
    return None


class Speculator:
    def __init__(self, config: SpeculationConfig, max_model_len: int, drafter: ModelDrafter | None = None) -> None:
        self.max_model_len = max_model_len
        self.num_drafts = self.num_draft_tokens = self.num_accepted_tokens = 0   # vLLM's counters
        self.set_config(config, drafter)

    def set_config(self, config: SpeculationConfig, drafter: ModelDrafter | None = None) -> None:
        """drafter: the drafting model's runner, for methods self and draft (else ignored)."""
        if not isinstance(config, SpeculationConfig):
            raise TypeError(f"speculation must be a SpeculationConfig, got {type(config).__name__}")
        if config.uses_model and drafter is None:
            raise ValueError(f"speculation method {config.method} needs a drafting model")
        self.config = config
        self.proposer = make_proposer(config)
        self.drafter = drafter if config.uses_model else None

    @property
    def drafts(self) -> bool:
        return self.proposer is not None or self.drafter is not None

    # ----- before scheduling -------------------------------------------------------------
    def propose(self, running: list[Sequence]) -> None:
        """Set draft_token_ids of every decoding sequence for the coming step."""
        decoding = [s for s in running if s.num_uncomputed == 1 and not s.is_prefilling]
        k = step_k(self.config, len(decoding)) if self.drafts else 0
        for seq in decoding:
            seq.draft_token_ids = self._drafts(seq, k) if k else []

    def _drafts(self, seq: Sequence, k: int) -> list[int]:
        if not seq.params.speculative:
            return []
        if seq.num_output_tokens < stats_of(seq).paused_until:
            return []
        room = min(seq.params.max_tokens - seq.num_output_tokens - 1, self._max_len() - len(seq))
        if room <= 0:
            return []
        if self.drafter is not None:
            return [RESERVED] * min(k, room)
        return self.proposer.propose(seq.token_ids, min(k, room))

    def _max_len(self) -> int:
        if self.drafter is None:
            return self.max_model_len
        return min(self.max_model_len, self.drafter.max_model_len)

    # ----- the step ----------------------------------------------------------------------
    def forward_and_verify(self, runner: ModelRunner, sampler: Sampler, seqs: list[Sequence],
                           num_tokens: list[int]) -> tuple[list[int], list[list[SampledToken]]]:
        """Rows of the sequences at their end, and the tokens each keeps (1 + accepted drafts)."""
        if self.drafter is not None:
            self.drafter.fill([s for s in seqs if s.draft_token_ids])
        logits = runner.forward(expanded_batch(seqs, num_tokens))
        rows, groups, logit_rows, row = [], [], [], 0
        for i, (seq, n) in enumerate(zip(seqs, num_tokens)):
            width = 1 + len(seq.draft_token_ids)
            if n == seq.num_uncomputed + len(seq.draft_token_ids):
                rows.append(i)
                groups.append((seq.owner.context, seq.draft_token_ids))
                logit_rows.extend(range(row, row + width))
            row += width
        if not rows:
            return rows, []
        return rows, verify(sampler, logits[torch.tensor(logit_rows, device=logits.device)], groups)

    # ----- after the step ----------------------------------------------------------------
    def record(self, seq: Sequence, accepted: int) -> None:
        """Count one verification of seq's drafts (before they are cleared)."""
        drafted = len(seq.draft_token_ids)
        stats = stats_of(seq)
        stats.record(drafted, accepted, self.config, seq.num_output_tokens)
        self.num_drafts += 1
        self.num_draft_tokens += drafted
        self.num_accepted_tokens += accepted


def expanded_batch(seqs: list[Sequence], num_tokens: list[int]) -> ForwardBatch:
    """The forward batch with each drafting sequence as one-token rows, its drafts appended."""
    token_ids, starts, tables = [], [], []
    for seq, n in zip(seqs, num_tokens):
        start = seq.num_computed
        drafts = seq.draft_token_ids
        if not drafts:
            token_ids.append(seq.token_ids[start:start + n])
            starts.append(start)
            tables.append(seq.block_table)
            continue
        for j, token in enumerate(seq.token_ids[start:] + drafts):
            token_ids.append([token])
            starts.append(start + j)
            tables.append(seq.block_table)
    return ForwardBatch(token_ids=token_ids, start_positions=starts, block_tables=tables)

