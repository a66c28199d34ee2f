"""Iteration-level scheduler: which sequences run in the next step, and how many tokens each.

Every step, running sequences that decode get one token each first; the rest of the step's
token budget goes to prefill chunks, first of running sequences part-way through their
prompt, then of waiting sequences admitted in order. Order everywhere is priority (higher
first), then arrival (first come, first served). A request joins at the next step and a
finished one leaves at once. When the KV pool runs out, the lowest-priority, latest running
sequence is preempted: its blocks are freed (full ones stay in the prefix cache) and it goes
back to the waiting queue, ahead of every later arrival of its priority, to be recomputed.
A decoding sequence carrying speculative drafts runs 1 + drafts tokens; drafts only use
budget and blocks that are spare (they are dropped rather than preempt anyone), and after
verification the blocks past the accepted tokens are returned (rollback).
A prefill chunk is at most config.max_prefill_chunk tokens when that is set. The optional
seq_limit and token_limit (set by an SLO governor, engine/slo.py) tighten max_num_seqs and
the token budget at run time: fewer sequences are admitted, and the rest wait.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from engine.block_manager import BlockManager
from engine.config import EngineConfig
from engine.sequence import Sequence, SeqStatus


def _rank(seq: Sequence) -> tuple[int, int]:
    return seq.rank


@dataclass(slots=True)
class ScheduledBatch:
    seqs: list[Sequence] = field(default_factory=list)
    num_tokens: list[int] = field(default_factory=list)     # new tokens of each sequence this step
    preempted: list[Sequence] = field(default_factory=list)

    def add(self, seq: Sequence, num_tokens: int) -> None:
        self.seqs.append(seq)
        self.num_tokens.append(num_tokens)

    @property
    def total_tokens(self) -> int:
        return sum(self.num_tokens)

    def __len__(self) -> int:
        return len(self.seqs)


class Scheduler:
    def __init__(self, config: EngineConfig, block_manager: BlockManager) -> None:
        self.config = config
        self.block_manager = block_manager
        self.waiting: list[Sequence] = []       # kept sorted by rank
        self.running: list[Sequence] = []       # kept sorted by rank
        self.preemptions_total = 0
        self.seq_limit: int | None = None       # run-time caps below the config's, None: none
        self.token_limit: int | None = None

    def add(self, seq: Sequence) -> None:
        seq.status = SeqStatus.WAITING
        bisect.insort(self.waiting, seq, key=_rank)

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    def schedule(self) -> ScheduledBatch:
        self.block_manager.expire_pins()
        batch = ScheduledBatch()
        budget = self._schedule_running(batch, self._token_budget())
        if not batch.preempted:
            self._admit_waiting(batch, budget)
        return batch

    def advance(self, seq: Sequence, num_tokens: int) -> None:
        """Record that a step computed num_tokens more tokens of seq."""
        seq.num_computed += num_tokens
        self.block_manager.commit(seq)

    def rollback(self, seq: Sequence, accepted: int) -> None:
        """After verifying seq's drafts: keep the K/V of the accepted ones, free blocks past its tokens."""
        self.advance(seq, accepted)
        self.block_manager.truncate(seq, len(seq))

    def finish(self, seq: Sequence, reason: str) -> None:
        """Take seq out (finished or aborted) and return its blocks to the pool."""
        if seq.status is SeqStatus.RUNNING:
            self.running.remove(seq)
        elif seq.status is SeqStatus.WAITING and seq in self.waiting:
            self.waiting.remove(seq)
        self.block_manager.free(seq)
        seq.status = SeqStatus.FINISHED
        seq.finish_reason = reason

    def _schedule_running(self, batch: ScheduledBatch, budget: int) -> int:
        decoding = [s for s in self.running if s.num_uncomputed == 1]
        remaining = decoding + [s for s in self.running if s.num_uncomputed > 1]
        remaining.reverse()                     # pop() from the end takes the next in order
        while remaining and budget > 0:
            seq = remaining.pop()
            self._fit_drafts(seq, budget)
            n = min(seq.num_uncomputed + len(seq.draft_token_ids),
                    budget if seq.num_uncomputed == 1 else self._chunk(budget))
            if self._make_room(seq, n, remaining, batch):
                batch.add(seq, n)
                budget -= n
        return budget

    def _fit_drafts(self, seq: Sequence, budget: int) -> None:
        """Keep seq's drafts only if the token budget and spare blocks hold them (one block kept
        free per running sequence, so drafting never causes a preemption)."""
        drafts = seq.draft_token_ids
        if not drafts:
            return
        del drafts[max(0, budget - seq.num_uncomputed):]
        end = seq.num_computed + seq.num_uncomputed + len(drafts)
        needed = self.block_manager.blocks_for(end) - len(seq.block_table)
        if needed > 0 and (self.block_manager.num_free - needed < len(self.running)
                           or not self.block_manager.ensure(seq, end)):
            drafts.clear()

    def _make_room(self, seq: Sequence, n: int, remaining: list[Sequence], batch: ScheduledBatch) -> bool:
        """Preempt the lowest-ranked unscheduled sequences until seq's next n tokens fit."""
        while not self.block_manager.ensure(seq, seq.num_computed + n):
            victim = max(remaining + [seq], key=_rank)
            self._preempt(victim, batch)
            if victim is seq:
                return False
            remaining.remove(victim)
        return True

    def _preempt(self, seq: Sequence, batch: ScheduledBatch) -> None:
        self.running.remove(seq)
        self.block_manager.free(seq)
        seq.draft_token_ids = []
        seq.preemptions += 1
        self.preemptions_total += 1
        batch.preempted.append(seq)
        self.add(seq)

    def _admit_waiting(self, batch: ScheduledBatch, budget: int) -> None:
        for seq in list(self.waiting):
            if budget <= 0 or len(self.running) >= self._seq_budget():
                return
            if seq.leader is not None and not seq.leader.is_finished and seq.leader.is_prefilling:
                continue                        # reuse the leader's prompt blocks once they exist
            n = self.block_manager.admit(seq, self._chunk(budget))
            if n == 0:
                return
            self.waiting.remove(seq)
            seq.status = SeqStatus.RUNNING
            bisect.insort(self.running, seq, key=_rank)
            batch.add(seq, n)
            budget -= n

    def _token_budget(self) -> int:
        limit = self.config.max_num_batched_tokens
        return limit if self.token_limit is None else min(limit, self.token_limit)

    def _seq_budget(self) -> int:
        limit = self.config.max_num_seqs
        return limit if self.seq_limit is None else min(limit, self.seq_limit)

    def _chunk(self, budget: int) -> int:
        chunk = self.config.max_prefill_chunk
        return min(budget, chunk) if chunk else budget
