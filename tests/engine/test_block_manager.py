"""Paged KV pool and prefix cache, built from plain numbers (no model)."""
from __future__ import annotations

import pytest

from engine.block_manager import BlockManager
from engine.config import CachePolicy
from engine.sequence import Sequence

BS = 4


def make(num_blocks: int = 16, **policy: object) -> BlockManager:
    return BlockManager(num_blocks, BS, CachePolicy(**policy), model_name="m")


def run_prompt(bm: BlockManager, tokens: list[int], tenant: str | None = None) -> Sequence:
    """Admit a prompt, compute it in one chunk and register its full blocks."""
    seq = Sequence("r", list(tokens), tenant=tenant)
    chunk = bm.admit(seq, 10_000)
    assert chunk == len(tokens) - seq.num_computed
    seq.num_computed += chunk
    bm.commit(seq)
    return seq


def test_blocks_cover_the_sequence_and_return_to_the_pool() -> None:
    bm = make(8, enabled=False)
    seq = run_prompt(bm, list(range(10)))
    assert len(seq.block_table) == 3 and bm.num_used == 3 and bm.num_free == 5
    assert bm.ensure(seq, 12) and len(seq.block_table) == 3
    assert bm.ensure(seq, 13) and len(seq.block_table) == 4
    bm.free(seq)
    assert bm.num_free == 8 and seq.block_table == []


def test_ensure_takes_nothing_when_the_pool_is_short() -> None:
    bm = make(2)
    seq = run_prompt(bm, list(range(8)))
    assert not bm.ensure(seq, 9)
    assert len(seq.block_table) == 2 and bm.num_free == 0


def test_admit_refuses_when_the_chunk_does_not_fit() -> None:
    bm = make(2)
    seq = Sequence("r", list(range(12)))
    assert bm.admit(seq, 100) == 0
    assert seq.block_table == [] and bm.num_free == 2
    assert bm.admit(seq, 8) == 8      # a smaller chunk fits


def test_reuses_longest_prefix_but_recomputes_last_token() -> None:
    bm = make()
    first = run_prompt(bm, list(range(12)))
    assert first.cached_tokens == 0
    same = run_prompt(bm, list(range(12)))
    assert same.cached_tokens == 8          # 3 full blocks, but the last token is recomputed
    assert same.block_table[:2] == first.block_table[:2]
    longer = run_prompt(bm, list(range(12)) + [99, 98])
    assert longer.cached_tokens == 12
    diverged = run_prompt(bm, [0, 1, 2, 3, 7, 7, 7, 7, 8])
    assert diverged.cached_tokens == 4


def test_hit_counts_exact_on_scripted_workload() -> None:
    bm = make(32)
    system = list(range(100, 116))          # 4 blocks shared by every request
    for user in ([1, 2, 3], [4, 5, 6, 7, 8], [9]):
        bm.free(run_prompt(bm, system + user))
    stats = bm.stats()
    assert stats.queries_tokens == 19 + 21 + 17
    assert stats.hits_tokens == 0 + 16 + 16
    assert stats.window_hit_rate == pytest.approx(32 / 57)
    bm.free(run_prompt(bm, system + [4, 5, 6, 7, 8]))   # 5 full blocks cached now
    assert bm.stats().hits_tokens == 32 + 20


def test_blocks_freed_tail_first() -> None:
    bm = make(4, eviction="lru")
    a = run_prompt(bm, list(range(9)))      # blocks 0, 1, 2: two full (registered), one partial
    bm.free(a)
    b = run_prompt(bm, [50 + i for i in range(9)])
    # the never-used block and a's wiped partial block go first, then the evictable block
    # released first: a's tail block 1, not its head block 0
    assert b.block_table == [3, 2, 1] and bm.stats().evictions == 1
    bm.free(b)
    assert run_prompt(bm, list(range(5))).cached_tokens == 4


def test_lru_evicts_least_recently_released() -> None:
    bm = make(4, eviction="lru")
    old, new = run_prompt(bm, [1, 1, 1, 1, 0]), run_prompt(bm, [2, 2, 2, 2, 0])
    bm.free(old)
    bm.free(new)
    filler = run_prompt(bm, [4] * 11)      # three blocks: the two wiped ones, then one eviction
    assert bm.stats().evictions == 1
    bm.free(filler)
    assert run_prompt(bm, [2, 2, 2, 2, 0]).cached_tokens == 4
    assert run_prompt(bm, [1, 1, 1, 1, 0]).cached_tokens == 0


def test_lfu_evicts_least_hit() -> None:
    bm = make(4, eviction="lfu")
    popular, rare = [1, 1, 1, 1, 0], [2, 2, 2, 2, 0]
    bm.free(run_prompt(bm, popular))
    for _ in range(3):
        bm.free(run_prompt(bm, popular))    # popular block hit 3 times
    bm.free(run_prompt(bm, rare))           # rare released last: LRU would keep it
    filler = run_prompt(bm, [4] * 11)
    assert bm.stats().evictions == 1
    bm.free(filler)
    bm.free(again := run_prompt(bm, popular))
    assert again.cached_tokens == 4
    assert run_prompt(bm, rare).cached_tokens == 0


def test_capacity_caps_unreferenced_cached_blocks() -> None:
    bm = make(16, capacity_blocks=2)
    for start in (10, 20, 30):
        bm.free(run_prompt(bm, [start] * 4 + [0]))
    assert bm.stats().cached_blocks == 2 and bm.stats().evictions == 1
    assert run_prompt(bm, [10] * 4 + [0]).cached_tokens == 0   # the oldest went
    assert run_prompt(bm, [30] * 4 + [0]).cached_tokens == 4


def test_pinned_prefix_survives_a_flood() -> None:
    bm = make(8)
    system = list(range(200, 208))
    bm.free(run_prompt(bm, system + [1]))
    pin = bm.pin(system)
    assert bm.pinned_cached_blocks(pin) == 2 and bm.stats().pinned_blocks == 2
    for i in range(20):                     # floods the 6 other blocks many times over
        bm.free(run_prompt(bm, [1000 + i * 10 + k for k in range(12)] + [0]))
    assert bm.stats().evictions > 10
    assert run_prompt(bm, system + [5]).cached_tokens == 8
    assert bm.unpin(pin.pin_id) and not bm.unpin(pin.pin_id)


def test_pin_expires() -> None:
    now = [0.0]
    bm = BlockManager(3, BS, model_name="m", clock=lambda: now[0])
    bm.free(run_prompt(bm, [7] * 4 + [0]))
    bm.pin([7] * 4, ttl_seconds=10)
    now[0] = 11.0
    assert bm.expire_pins() == 1 and not bm.pins
    bm.free(run_prompt(bm, [8] * 12))       # needs every block: the formerly pinned one goes
    assert run_prompt(bm, [7] * 4 + [0]).cached_tokens == 0


def test_tenant_isolation() -> None:
    bm = make()
    prompt = list(range(40, 57))
    bm.free(run_prompt(bm, prompt, tenant="A"))
    assert run_prompt(bm, prompt, tenant="B").cached_tokens == 0
    assert run_prompt(bm, prompt, tenant="A").cached_tokens == 16
    shared = make(tenant_isolation=False)
    shared.free(run_prompt(shared, prompt, tenant="A"))
    assert run_prompt(shared, prompt, tenant="B").cached_tokens == 16


def test_flush_and_disable() -> None:
    bm = make()
    bm.free(run_prompt(bm, list(range(9))))
    assert bm.flush() == 2 and bm.stats().cached_blocks == 0 and bm.num_free == 16
    bm.free(run_prompt(bm, list(range(9))))
    bm.set_policy(CachePolicy(enabled=False))
    assert run_prompt(bm, list(range(9))).cached_tokens == 0
    assert bm.stats().cached_blocks == 0


def test_policy_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="eviction"):
        CachePolicy(eviction="fifo")
    with pytest.raises(ValueError, match="capacity_blocks"):
        CachePolicy(capacity_blocks=-1)
