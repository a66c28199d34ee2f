"""A thread-safe map with a time-to-live per entry and a least-recently-used size cap.

Time comes from an injected clock (monotonic seconds by default), so expiry can be tested
without sleeping."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

Clock = Callable[[], float]

V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires: float


class TtlLru(Generic[V]):
    def __init__(self, ttl_seconds: float, max_entries: int, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.lock = threading.RLock()
        self._entries: OrderedDict[str, _Entry[V]] = OrderedDict()
        self.evictions = 0
        self.expirations = 0

    def __len__(self) -> int:
        with self.lock:
            return len(self._entries)

    def get(self, key: str) -> V | None:
        """The live value for `key`, now the most recently used; None if absent or expired."""
        with self.lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= self.clock():
                del self._entries[key]
                self.expirations += 1
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: str, value: V) -> None:
        with self.lock:
            self._entries[key] = _Entry(value, self.clock() + self.ttl_seconds)
            self._entries.move_to_end(key)
            self.shrink()

    def resize(self, ttl_seconds: float, max_entries: int) -> None:
        """New limits apply at once: the cap evicts now; the TTL applies to later entries."""
        with self.lock:
            self.ttl_seconds, self.max_entries = ttl_seconds, max_entries
            self.shrink()

    def shrink(self) -> None:
        with self.lock:
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self.evictions += 1

    def remove_if(self, doomed: Callable[[V], bool]) -> int:
        with self.lock:
            keys = [k for k, e in self._entries.items() if doomed(e.value)]
            for key in keys:
                del self._entries[key]
            return len(keys)

    def live_items(self) -> Iterator[tuple[str, V]]:
        """A snapshot of the unexpired entries, least recently used first (expired ones dropped)."""
        with self.lock:
            now = self.clock()
            expired = [k for k, e in self._entries.items() if e.expires <= now]
            for key in expired:
                del self._entries[key]
            self.expirations += len(expired)
            return iter([(k, e.value) for k, e in self._entries.items()])
