"""Per-key request and token rates over a sliding minute, and the lifetime token budget."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.auth.keys import ApiKey

WINDOW = 60.0


@dataclass(slots=True)
class LimitExceeded(Exception):
    message: str
    retry_after: float

    def __str__(self) -> str:
        return self.message


class _Usage:
    __slots__ = ("requests", "tokens", "budget_used")

    def __init__(self, budget_used: int) -> None:
        self.requests: deque[float] = deque()
        self.tokens: deque[tuple[float, int]] = deque()
        self.budget_used = budget_used


class RateLimiter:
    """`admit(key)` before a request, `charge(key, tokens)` once its tokens are known.

    `budget_source(key)` gives the tokens a key has already used (from the ledger), read once
    per key per process; later usage is counted here, so the budget holds before rows land.
    """

    def __init__(self, budget_source: Callable[[ApiKey], int] = lambda key: 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._budget_source = budget_source
        self._clock = clock
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def admit(self, key: ApiKey) -> None:
        """Count one request, or raise LimitExceeded with the seconds to wait."""
        usage = self._usage_of(key)
        now = self._clock()
        spec = key.spec
        with self._lock:
            _expire(usage, now)
            if spec.token_budget and usage.budget_used >= spec.token_budget:
                raise LimitExceeded(f"API key '{spec.name}' has used its token budget "
                                    f"({usage.budget_used} of {spec.token_budget} tokens).", 3600.0)
            if spec.requests_per_minute and len(usage.requests) >= spec.requests_per_minute:
                wait = usage.requests[0] + WINDOW - now
                raise LimitExceeded(f"API key '{spec.name}' is over its rate of "
                                    f"{spec.requests_per_minute} requests per minute.", wait)
            used = sum(n for _, n in usage.tokens)
            if spec.tokens_per_minute and used >= spec.tokens_per_minute:
                wait = usage.tokens[0][0] + WINDOW - now
                raise LimitExceeded(f"API key '{spec.name}' is over its rate of {spec.tokens_per_minute} "
                                    f"tokens per minute ({used} used).", wait)
            usage.requests.append(now)

    def charge(self, key: ApiKey, tokens: int) -> None:
        usage = self._usage_of(key)
        with self._lock:
            usage.tokens.append((self._clock(), tokens))
            usage.budget_used += tokens

    def _usage_of(self, key: ApiKey) -> _Usage:
        usage = self._usage.get(key.id)
        if usage is None:
            start = self._budget_source(key) if key.spec.token_budget else 0
            with self._lock:
                usage = self._usage.setdefault(key.id, _Usage(start))
        return usage


def _expire(usage: _Usage, now: float) -> None:
    while usage.requests and usage.requests[0] <= now - WINDOW:
        usage.requests.popleft()
    while usage.tokens and usage.tokens[0][0] <= now - WINDOW:
        usage.tokens.popleft()
