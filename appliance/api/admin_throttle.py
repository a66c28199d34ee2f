"""FailureThrottle: lock out a client address after too many wrong admin credentials.

Invariants:
- an address with `max_failures` failures inside `window` seconds is refused for `lockout`
  seconds from its last failure; a success does not reset the count (a guesser would
  interleave its own valid calls otherwise; it has none);
- memory is bounded: at most `max_clients` addresses are tracked, the least recently
  failing one is forgotten first (an attacker with many addresses dilutes only itself).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureThrottle:
    def __init__(self, max_failures: int = 10, window: float = 60.0, lockout: float = 60.0,
                 max_clients: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max(1, max_failures)
        self.window = window
        self.lockout = lockout
        self.max_clients = max_clients
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def failed(self, client: str) -> None:
        now = self._clock()
        with self._lock:
            times = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
            times.append(now)
            self._failures[client] = times
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def blocked_for(self, client: str) -> float:
        """Seconds `client` must still wait; 0 when it may try."""
        now = self._clock()
        with self._lock:
            times = self._failures.get(client)
            if not times or len(times) < self.max_failures or times[-1] - times[0] > self.window:
                return 0.0
            return max(0.0, times[-1] + self.lockout - now)

    def __len__(self) -> int:
        return len(self._failures)
