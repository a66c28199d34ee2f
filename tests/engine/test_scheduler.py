"""Scheduler over a real block manager, built from plain numbers (no model).

`step` plays the engine's part after a forward pass: it records the computed tokens, appends
one made-up token to each sequence that reached its end, and finishes those at max_tokens.
"""
from __future__ import annotations

from engine.block_manager import BlockManager
from engine.config import CachePolicy, EngineConfig
from engine.sampling_params import SamplingParams
from engine.scheduler import ScheduledBatch, Scheduler
from engine.sequence import Sequence, SeqStatus


def make(num_blocks: int = 64, block_size: int = 4, budget: int = 16, max_num_seqs: int = 8,
         caching: bool = True) -> Scheduler:
    config = EngineConfig(block_size=block_size, max_num_batched_tokens=budget, max_num_seqs=max_num_seqs,
                          cache=CachePolicy(enabled=caching))
    return Scheduler(config, BlockManager(num_blocks, block_size, config.cache, model_name="m"))


def seq(prompt_len: int, max_tokens: int = 4, priority: int = 0, first: int = 0, **kw: object) -> Sequence:
    return Sequence("r", list(range(first, first + prompt_len)), SamplingParams(max_tokens=max_tokens),
                    priority=priority, **kw)


def step(s: Scheduler) -> ScheduledBatch:
    batch = s.schedule()
    for q, n in zip(batch.seqs, batch.num_tokens):
        s.advance(q, n)
        if q.num_uncomputed == 0:
            q.token_ids.append(7)
            if q.num_output_tokens >= q.params.max_tokens:
                s.finish(q, "length")
    return batch


def test_decodes_first_then_prefill_chunks_within_budget() -> None:
    s = make(budget=16)
    decoders = [seq(3, max_tokens=50, first=100 * i) for i in range(3)]
    for q in decoders:
        s.add(q)
    step(s)                                 # three 3-token prefills in one step
    long = seq(40, first=1000)
    s.add(long)
    batch = step(s)
    assert batch.seqs[:3] == decoders and batch.num_tokens == [1, 1, 1, 13]
    batch = step(s)                         # the long prompt goes on in chunks; decodes never stall
    assert batch.seqs[:3] == decoders and batch.num_tokens == [1, 1, 1, 13]
    batch = step(s)
    assert batch.num_tokens == [1, 1, 1, 13] and long.num_computed == 39
    batch = step(s)
    assert batch.num_tokens == [1, 1, 1, 1] and long.num_output_tokens == 1


def test_continuous_batching_join_next_step_leave_at_once() -> None:
    s = make()
    a = seq(4, max_tokens=2)
    s.add(a)
    assert step(s).num_tokens == [4]
    b = seq(4, max_tokens=3, first=50)
    s.add(b)
    assert step(s).seqs == [a, b]           # b joins while a decodes
    assert a.is_finished and a.finish_reason == "length" and s.running == [b]
    assert step(s).seqs == [b]
    step(s)
    assert s.idle and s.block_manager.num_used == 0


def test_max_num_seqs() -> None:
    s = make(max_num_seqs=2)
    for i in range(3):
        s.add(seq(2, first=10 * i))
    assert len(step(s)) == 2 and len(s.waiting) == 1


def test_priority_higher_first_then_fcfs() -> None:
    s = make(budget=8)
    low, high, high_later = seq(8, priority=0), seq(8, priority=5, first=20), seq(8, priority=5, first=40)
    for q in (low, high, high_later):
        s.add(q)
    assert step(s).seqs == [high]
    assert step(s).seqs[1:] == [high_later]


def test_preemption_frees_the_lowest_ranked_and_recomputes_it() -> None:
    s = make(num_blocks=4, block_size=4, budget=32, caching=False)
    first, second = seq(8, max_tokens=8), seq(8, max_tokens=8, first=50)
    s.add(first)
    s.add(second)
    step(s)                                 # 2 x 2 blocks for the 8 prompt tokens
    assert s.block_manager.num_free == 0
    batch = step(s)                         # both need a 3rd block for token 9: second goes
    assert batch.seqs == [first] and batch.preempted == [second]
    assert second.status is SeqStatus.WAITING and second.block_table == [] and s.waiting == [second]
    while not first.is_finished:
        step(s)
    batch = step(s)                         # recompute: prompt and its output token so far
    assert batch.seqs == [second] and batch.num_tokens == [9] and second.preemptions == 1
    while not s.idle:
        step(s)
    assert second.num_output_tokens == 8 and s.block_manager.num_used == 0
    assert s.preemptions_total == 1


def test_preempts_lower_priority_even_if_it_came_first() -> None:
    s = make(num_blocks=4, block_size=4, budget=32, caching=False)
    old_low, new_high = seq(8, max_tokens=8, priority=0), seq(8, max_tokens=8, priority=1, first=50)
    s.add(old_low)
    s.add(new_high)
    step(s)
    assert step(s).preempted == [old_low]


def test_n_choices_share_the_prompt_blocks() -> None:
    s = make(budget=64)
    leader = seq(13, max_tokens=5)
    sibling = seq(13, max_tokens=5, leader=leader, index=1)
    s.add(leader)
    s.add(sibling)
    assert step(s).seqs == [leader]         # the sibling waits for the leader's prompt blocks
    batch = step(s)
    assert batch.seqs == [leader, sibling] and sibling.cached_tokens == 12
    assert sibling.block_table[:3] == leader.block_table[:3]
