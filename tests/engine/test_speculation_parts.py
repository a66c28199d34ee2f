"""Speculation's parts without a model: prompt lookup, the adaptive policy, draft scheduling and
KV rollback in the paged cache, and the configuration's checks."""
from __future__ import annotations

import pytest

from engine.block_manager import BlockManager
from engine.config import CachePolicy, EngineConfig
from engine.prefix_cache import chain_hashes, root_hash
from engine.sampling_params import SamplingParams
from engine.scheduler import Scheduler
from engine.sequence import Sequence
from engine.speculation import SpeculationConfig
from engine.speculation.ngram import NgramProposer
from engine.speculation.policy import DraftStats, step_k
from engine.speculation.speculator import Speculator, expanded_batch


def test_ngram_proposes_what_followed_the_latest_match() -> None:
    p = NgramProposer(1, 3)
    tokens = [5, 6, 7, 8, 9, 1, 2, 5, 6, 7, 3, 4, 5, 6, 7]
    assert p.propose(tokens, 4) == [3, 4, 5, 6]          # the latest earlier "5 6 7" is followed by 3 4 ...
    assert p.propose(tokens, 2) == [3, 4]
    assert p.propose([1, 2, 3, 9], 4) == []               # 9 never occurred before
    assert p.propose([4, 4, 4], 3) == [4]                 # a match must end before the last token
    assert NgramProposer(2, 2).propose([1, 2, 9, 2], 3) == []   # only bigrams: "9 2" is new


def test_ngram_prefers_longer_matches() -> None:
    tokens = [1, 2, 3, 10, 11, 9, 3, 20, 21, 1, 2, 3]
    assert NgramProposer(1, 3).propose(tokens, 2) == [10, 11]    # "1 2 3" beats the later lone "3"
    assert NgramProposer(1, 1).propose(tokens, 2) == [20, 21]


def test_batch_size_and_acceptance_decide_who_drafts() -> None:
    config = SpeculationConfig(method="ngram", k=4, max_batch=8, min_acceptance=0.5, window=2, cooldown_tokens=10)
    assert [step_k(config, n) for n in (1, 4, 5, 8, 9)] == [4, 4, 2, 2, 0]
    assert step_k(SpeculationConfig(), 1) == 0
    stats = DraftStats()
    stats.record(4, 4, config, num_output_tokens=20)
    stats.record(4, 0, config, num_output_tokens=21)
    assert stats.paused_until == 0                          # 4 of 8 accepted: at the threshold
    stats.record(4, 0, config, num_output_tokens=22)        # the last two: 0 of 8
    assert stats.paused_until == 32 and (stats.drafted, stats.accepted, stats.drafts) == (12, 4, 3)


def test_config_names_the_bad_setting() -> None:
    for kwargs, name in (({"method": "magic"}, "method"), ({"k": 0}, "k"), ({"k": 17}, "k"),
                         ({"ngram_min": 3, "ngram_max": 2}, "ngram_min"), ({"min_acceptance": 2.0}, "min_acceptance")):
        with pytest.raises(ValueError, match=name):
            SpeculationConfig(**kwargs)


def _scheduler(num_blocks: int = 32, block_size: int = 4, budget: int = 32) -> Scheduler:
    config = EngineConfig(block_size=block_size, max_num_batched_tokens=budget, max_num_seqs=8,
                          cache=CachePolicy(enabled=True))
    return Scheduler(config, BlockManager(num_blocks, block_size, config.cache, model_name="m"))


def _decoding(s: Scheduler, *prompts: list[int], max_tokens: int = 32) -> list[Sequence]:
    """Sequences whose prompts are computed and whose first token is sampled."""
    seqs = [Sequence("r", list(p), SamplingParams(max_tokens=max_tokens, temperature=0.0)) for p in prompts]
    for seq in seqs:
        s.add(seq)
    batch = s.schedule()
    for seq, n in zip(batch.seqs, batch.num_tokens):
        s.advance(seq, n)
        seq.token_ids.append(seq.token_ids[0])              # the prefill's token
    return seqs


def test_drafts_ride_in_the_step_and_rejected_slots_are_rolled_back() -> None:
    s = _scheduler()
    bm = s.block_manager
    seq, = _decoding(s, [1, 2, 3, 4, 5, 6, 7])              # 8 tokens, 7 computed, 2 blocks
    seq.draft_token_ids = [2, 3, 4, 5, 6]
    batch = s.schedule()
    assert batch.num_tokens == [6] and len(seq.block_table) == 4     # positions 7..12 need blocks 2 and 3
    forward = expanded_batch(batch.seqs, batch.num_tokens)
    assert forward.token_ids == [[1], [2], [3], [4], [5], [6]] and forward.start_positions == list(range(7, 13))
    used = bm.num_used
    s.advance(seq, 1)                                       # the engine's postprocess: last token, then ...
    seq.token_ids += [2, 9]                                 # one draft accepted, then the target's own token
    s.rollback(seq, 1)
    assert seq.num_computed == 9 and len(seq) == 10 and len(seq.block_table) == 3
    assert bm.num_used == used - 1                          # the block only rejected drafts reached is free
    root = root_hash("m", None)
    assert seq.block_hashes == chain_hashes(root, seq.token_ids[:8], 4)   # hashes over committed tokens only


def test_drafts_never_preempt_or_exceed_the_budget() -> None:
    s = _scheduler(num_blocks=6, budget=16)
    a, b = _decoding(s, [1, 2, 3, 4, 5, 6, 7], [11, 12, 13, 14, 15, 16, 17])   # 4 blocks, 2 free
    a.draft_token_ids = [1, 2, 3, 4, 5]                     # 1 more block would leave fewer free than running
    batch = s.schedule()
    assert a.draft_token_ids == [] and batch.num_tokens == [1, 1] and not batch.preempted
    s2 = _scheduler(budget=8)
    c, = _decoding(s2, [1, 2, 3])
    c.draft_token_ids = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert s2.schedule().num_tokens == [8] and len(c.draft_token_ids) == 7   # trimmed to the budget


def test_only_decoding_sequences_draft_within_their_limits() -> None:
    spec = Speculator(SpeculationConfig(method="ngram", k=4), max_model_len=12)
    s = _scheduler()
    near_end, = _decoding(s, [1, 2, 3, 1, 2, 3, 1, 2], max_tokens=3)   # 9 tokens: 2 more may follow
    spec.propose(s.running)
    assert near_end.draft_token_ids == [2]                  # max_tokens leaves room for 1 draft + 1 token
    near_end.params.speculative = False
    spec.propose(s.running)
    assert near_end.draft_token_ids == []
