"""Prefix-cache building blocks: chained block hashes, hit counters in tokens, pins."""
from __future__ import annotations

import hashlib
import itertools
from array import array
from collections import deque
from dataclasses import dataclass, field

HASH_BYTES = 16
_pin_ids = itertools.count(1)


def root_hash(model_name: str, tenant: str | None) -> bytes:
    """The chain's starting point: the model, and the tenant when tenants are isolated."""
    salt = model_name if tenant is None else f"{model_name}\x00tenant\x00{tenant}"
    return hashlib.blake2b(salt.encode(), digest_size=HASH_BYTES).digest()


def block_hash(parent: bytes, token_ids: list[int]) -> bytes:
    """Hash of one full block, chained from the previous block's hash.

    A cryptographic hash keeps collisions out of reach, so one tenant cannot craft a prompt
    whose blocks collide with another tenant's cached blocks.
    """
    digest = hashlib.blake2b(parent, digest_size=HASH_BYTES)
    digest.update(array("q", token_ids).tobytes())
    return digest.digest()


def chain_hashes(root: bytes, token_ids: list[int], block_size: int, start: list[bytes] | None = None) -> list[bytes]:
    """Hashes of every full block of token_ids, continuing the chain in `start` if given."""
    hashes = list(start or [])
    parent = hashes[-1] if hashes else root
    for i in range(len(hashes), len(token_ids) // block_size):
        parent = block_hash(parent, token_ids[i * block_size:(i + 1) * block_size])
        hashes.append(parent)
    return hashes


@dataclass(slots=True)
class HitCounter:
    """Prefix-cache lookups counted in tokens, in total and over the last `window` lookups."""
    window: int = 1000
    queries: int = 0
    hits: int = 0
    _recent: deque[tuple[int, int]] = field(default_factory=deque)
    _recent_queries: int = 0
    _recent_hits: int = 0

    def record(self, queries: int, hits: int) -> None:
        self.queries += queries
        self.hits += hits
        self._recent.append((queries, hits))
        self._recent_queries += queries
        self._recent_hits += hits
        if len(self._recent) > self.window:
            old_queries, old_hits = self._recent.popleft()
            self._recent_queries -= old_queries
            self._recent_hits -= old_hits

    @property
    def window_hit_rate(self) -> float:
        return self._recent_hits / self._recent_queries if self._recent_queries else 0.0


@dataclass(slots=True)
class Pin:
    """A prefix whose cached blocks are never evicted until it is unpinned or expires."""
    tenant: str | None
    num_tokens: int
    hashes: list[bytes]
    expires_at: float | None = None     # on the block manager's clock; None: never
    pin_id: str = field(default_factory=lambda: f"pin-{next(_pin_ids)}")

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at
