"""Paged KV block pool with automatic prefix caching.

The pool has a fixed number of blocks of `block_size` token slots. Every sequence owns a
block table: the ids of the blocks that hold its keys and values, in order.

A full block is identified by a hash chained from the previous block's hash and its own
token ids; the chain starts from the model's name and, with tenant isolation, the tenant's.
When a sequence's block fills up, the block is registered under that hash. Registered
blocks carry a reference count: a new sequence whose prompt starts with the same blocks
takes a reference on them instead of computing them again.

When the last reference goes, a registered block is not wiped: it joins the evictable list
(ordered oldest first, so least recently used first) and keeps its contents until the pool
needs the slot. Eviction is lazy: only when no never-used or wiped block is left is the
oldest (LRU) or least-hit (LFU) evictable block taken and its hash dropped. A sequence's
blocks are released tail first, so under LRU the end of a prompt goes before its beginning,
which more requests share. Blocks of a pinned prefix never enter the evictable list while
the pin lasts.
"""
from __future__ import annotations

import heapq
import itertools
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
from typing import Callable

from engine.config import CachePolicy
from engine.outputs import CacheStats
from engine.prefix_cache import HitCounter, Pin, chain_hashes, root_hash
from engine.sequence import Sequence


@dataclass(slots=True, eq=False)
class Block:
    block_id: int
    ref_count: int = 0
    hash: bytes | None = None
    hits: int = 0               # times reused from the cache since it was registered (LFU)
    free_tick: int = 0          # when it last became evictable; validates LFU heap entries


class BlockManager:
    """Allocates blocks to sequences and keeps full blocks for reuse (see the module doc)."""

    def __init__(self, num_blocks: int, block_size: int, policy: CachePolicy | None = None,
                 model_name: str = "", clock: Callable[[], float] = time.monotonic) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError(f"need at least one block of at least one token, got {num_blocks} x {block_size}")
        self.block_size = block_size
        self.model_name = model_name
        self.policy = policy or CachePolicy()
        self.clock = clock
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.counter = HitCounter()
        self.evictions = 0
        self._wiped: deque[Block] = deque(self.blocks)      # free, holding nothing reusable
        self._evictable: OrderedDict[int, Block] = OrderedDict()
        self._lfu_heap: list[tuple[int, int, int]] = []     # (hits, free_tick, block_id)
        self._ticks = itertools.count(1)
        self._cached: dict[bytes, Block] = {}
        self._pinned_idle: dict[int, Block] = {}
        self._pinned: Counter[bytes] = Counter()
        self.pins: dict[str, Pin] = {}

    # ----- pool figures -------------------------------------------------------------------
    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_free(self) -> int:
        """Blocks a sequence can take now: wiped ones plus evictable cached ones."""
        return len(self._wiped) + len(self._evictable)

    @property
    def num_used(self) -> int:
        return self.num_blocks - self.num_free

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def stats(self) -> CacheStats:
        return CacheStats(
            queries_tokens=self.counter.queries, hits_tokens=self.counter.hits,
            window_hit_rate=self.counter.window_hit_rate, cached_blocks=len(self._evictable),
            pinned_blocks=sum(1 for h in self._pinned if h in self._cached), evictions=self.evictions)

    # ----- sequences ----------------------------------------------------------------------
    def admit(self, seq: Sequence, token_budget: int) -> int:
        """Give a waiting sequence its cached prefix and blocks for its first chunk.

        Returns the chunk's token count, or 0 (and changes nothing) when the pool is short.
        At least the last token is always computed, since its logits give the next token.
        """
        hits = self._lookup(seq)
        cached_tokens = len(hits) * self.block_size
        chunk = min(len(seq) - cached_tokens, token_budget)
        needed = self.blocks_for(cached_tokens + chunk) - len(hits)
        idle_hits = sum(1 for b in hits if b.block_id in self._evictable)  # taking them shrinks the free pool
        if chunk < 1 or needed > self.num_free - idle_hits:
            return 0
        for block in hits:
            self._take_cached(block)
        seq.block_table = [b.block_id for b in hits]
        seq.num_computed = cached_tokens
        seq.num_registered = len(hits)
        if seq.cached_tokens is None:
            seq.cached_tokens = cached_tokens
        if self.policy.enabled:
            self.counter.record(len(seq), cached_tokens)
        self._grow(seq, needed)
        return chunk

    def ensure(self, seq: Sequence, num_tokens: int) -> bool:
        """Make the block table cover num_tokens tokens; False (nothing taken) if the pool is short."""
        needed = self.blocks_for(num_tokens) - len(seq.block_table)
        if needed > self.num_free:
            return False
        self._grow(seq, needed)
        return True

    def commit(self, seq: Sequence) -> None:
        """Register the blocks that became full since the last call (after a step)."""
        full = seq.num_computed // self.block_size
        if full <= seq.num_registered:
            return
        if self.policy.enabled:
            root = root_hash(self.model_name, self._salt_tenant(seq))
            computed = seq.token_ids[:full * self.block_size]
            seq.block_hashes = chain_hashes(root, computed, self.block_size, seq.block_hashes)
            for i in range(seq.num_registered, full):
                self._register(self.blocks[seq.block_table[i]], seq.block_hashes[i])
        seq.num_registered = full

    def truncate(self, seq: Sequence, num_tokens: int) -> None:
        """Release the blocks past the first num_tokens tokens, tail first (rejected draft slots).

        Those blocks lie past the computed tokens, so none of them is registered or shared."""
        keep = self.blocks_for(num_tokens)
        for block_id in reversed(seq.block_table[keep:]):
            self._release(self.blocks[block_id])
        del seq.block_table[keep:]

    def free(self, seq: Sequence) -> None:
        """Release a sequence's blocks, tail first, and forget its KV state."""
        for block_id in reversed(seq.block_table):
            self._release(self.blocks[block_id])
        seq.block_table = []
        seq.block_hashes = []
        seq.num_computed = seq.num_registered = 0

    # ----- policy, pins, flush ------------------------------------------------------------
    def set_policy(self, policy: CachePolicy) -> None:
        self.policy = policy
        if not policy.enabled:
            self.flush(keep_pinned=False)
        if policy.eviction == "lfu":
            self._rebuild_heap()
        self._enforce_capacity()

    def pin(self, token_ids: list[int], tenant: str | None = None, ttl_seconds: float | None = None) -> Pin:
        """Keep the full blocks of this prefix (for this tenant) cached until unpinned or expired."""
        root = root_hash(self.model_name, tenant if self.policy.tenant_isolation else None)
        expires = None if ttl_seconds is None else self.clock() + ttl_seconds
        pin = Pin(tenant, len(token_ids), chain_hashes(root, token_ids, self.block_size), expires)
        self.pins[pin.pin_id] = pin
        for h in pin.hashes:
            self._pinned[h] += 1
            block = self._cached.get(h)
            if block is not None and block.block_id in self._evictable:
                del self._evictable[block.block_id]
                self._pinned_idle[block.block_id] = block
        return pin

    def unpin(self, pin_id: str) -> bool:
        pin = self.pins.pop(pin_id, None)
        if pin is None:
            return False
        for h in pin.hashes:
            self._pinned[h] -= 1
            if self._pinned[h] > 0:
                continue
            del self._pinned[h]
            block = self._cached.get(h)
            if block is not None and self._pinned_idle.pop(block.block_id, None) is not None:
                self._make_evictable(block)
        self._enforce_capacity()
        return True

    def expire_pins(self) -> int:
        if not self.pins:
            return 0
        now = self.clock()
        expired = [p.pin_id for p in self.pins.values() if p.expired(now)]
        for pin_id in expired:
            self.unpin(pin_id)
        return len(expired)

    def pinned_cached_blocks(self, pin: Pin) -> int:
        return sum(1 for h in pin.hashes if h in self._cached)

    def flush(self, keep_pinned: bool = True) -> int:
        """Forget every cached block (pinned ones too unless keep_pinned); returns how many."""
        if not keep_pinned:
            for pin_id in list(self.pins):
                self.unpin(pin_id)
        dropped = 0
        for h, block in list(self._cached.items()):
            if h in self._pinned:
                continue
            self._evictable.pop(block.block_id, None)
            del self._cached[h]
            block.hash, block.hits = None, 0
            if block.ref_count == 0:
                self._wiped.append(block)
            dropped += 1
        self._lfu_heap.clear()
        return dropped

    # ----- internals ----------------------------------------------------------------------
    def _salt_tenant(self, seq: Sequence) -> str | None:
        return seq.tenant if self.policy.tenant_isolation else None

    def _lookup(self, seq: Sequence) -> list[Block]:
        """The longest run of cached blocks at the start of the sequence, last token excluded."""
        if not self.policy.enabled:
            return []
        root = root_hash(self.model_name, self._salt_tenant(seq))
        seq.block_hashes = chain_hashes(root, seq.token_ids[:len(seq) - 1], self.block_size)
        hits = []
        for h in seq.block_hashes:
            block = self._cached.get(h)
            if block is None:
                break
            hits.append(block)
        return hits

    def _take_cached(self, block: Block) -> None:
        if block.ref_count == 0:
            self._evictable.pop(block.block_id, None)
            self._pinned_idle.pop(block.block_id, None)
        block.ref_count += 1
        block.hits += 1

    def _grow(self, seq: Sequence, count: int) -> None:
        for _ in range(count):
            block = self._take_free()
            block.ref_count = 1
            seq.block_table.append(block.block_id)

    def _take_free(self) -> Block:
        if self._wiped:
            return self._wiped.popleft()
        block = self._pop_victim()
        self._evict(block)
        return block

    def _pop_victim(self) -> Block:
        if self.policy.eviction == "lru":
            return self._evictable.popitem(last=False)[1]
        while True:
            _, tick, block_id = heapq.heappop(self._lfu_heap)
            block = self._evictable.get(block_id)
            if block is not None and block.free_tick == tick:
                del self._evictable[block_id]
                return block

    def _evict(self, block: Block) -> None:
        del self._cached[block.hash]
        block.hash, block.hits = None, 0
        self.evictions += 1

    def _register(self, block: Block, h: bytes) -> None:
        if block.hash is None and h not in self._cached:
            block.hash = h
            self._cached[h] = block

    def _release(self, block: Block) -> None:
        block.ref_count -= 1
        if block.ref_count > 0:
            return
        if block.hash is None:
            self._wiped.append(block)
        elif block.hash in self._pinned:
            self._pinned_idle[block.block_id] = block
        else:
            self._make_evictable(block)
            self._enforce_capacity()

    def _make_evictable(self, block: Block) -> None:
        block.free_tick = next(self._ticks)
        self._evictable[block.block_id] = block
        if self.policy.eviction == "lfu":
            heapq.heappush(self._lfu_heap, (block.hits, block.free_tick, block.block_id))
            if len(self._lfu_heap) > 2 * len(self._evictable) + 64:
                self._rebuild_heap()

    def _rebuild_heap(self) -> None:
        self._lfu_heap = [(b.hits, b.free_tick, b.block_id) for b in self._evictable.values()]
        heapq.heapify(self._lfu_heap)

    def _enforce_capacity(self) -> None:
        cap = self.policy.capacity_blocks
        while cap and len(self._evictable) > cap:
            block = self._pop_victim()
            self._evict(block)
            self._wiped.append(block)
