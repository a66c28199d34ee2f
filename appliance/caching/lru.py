"""A thread-safe map with a time-to-live per entry and least-recently-used caps on the number
of entries and on their total size in bytes (each value's size given when it is put).

Time comes from an injected clock (monotonic seconds by default), so expiry can be tested
without sleeping."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")
Clock = Callable[[], float]


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires: float
    size: int = 0


class TtlLru(Generic[V]):
    def __init__(self, ttl_seconds: float, max_entries: int, max_bytes: int = 0,
                 clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.max_bytes = max_bytes           # 0: no byte cap
        self.bytes = 0
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
                self._drop(key)
                self.expirations += 1
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: str, value: V, size: int = 0) -> bool:
        """Keep `value` (`size` bytes); False, keeping nothing, when it alone exceeds the byte cap."""
        with self.lock:
            if key in self._entries:
                self._drop(key)
            if self.max_bytes and size > self.max_bytes:
                return False
            self._entries[key] = _Entry(value, self.clock() + self.ttl_seconds, size)
            self.bytes += size
            self.shrink()
            return True

    def resize(self, ttl_seconds: float, max_entries: int, max_bytes: int | None = None) -> None:
        """New limits apply at once: the caps evict now; the TTL applies to later entries."""
        with self.lock:
            self.ttl_seconds, self.max_entries = ttl_seconds, max_entries
            if max_bytes is not None:
                self.max_bytes = max_bytes
            self.shrink()

    def shrink(self) -> None:
        with self.lock:
            while self._entries and (len(self._entries) > self.max_entries
                                     or (self.max_bytes and self.bytes > self.max_bytes)):
                self._drop(next(iter(self._entries)))
                self.evictions += 1

    def _drop(self, key: str) -> None:
        self.bytes -= self._entries.pop(key).size

    def remove_if(self, doomed: Callable[[V], bool]) -> int:
        with self.lock:
            keys = [k for k, e in self._entries.items() if doomed(e.value)]
            for key in keys:
                self._drop(key)
            return len(keys)

    def live_items(self) -> Iterator[tuple[str, V]]:
        """A snapshot of the unexpired entries, least recently used first (expired ones dropped)."""
        with self.lock:
            now = self.clock()
            expired = [k for k, e in self._entries.items() if e.expires <= now]
            for key in expired:
                self._drop(key)
            self.expirations += len(expired)
            return iter([(k, e.value) for k, e in self._entries.items()])
