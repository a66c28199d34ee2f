"""Per-key request and token rates over a sliding minute, the lifetime token budget, and the
number of requests a key may have in flight.

Invariants (under one lock, so parallel requests cannot all pass a check meant for one):
- `reserve` holds a request's worst case (prompt + n x max_tokens for every prompt) against
  the token rate and the budget before anything runs, and refuses what cannot fit. So at
  every moment, settled usage + held worst cases <= each limit, and settled usage alone can
  never exceed it.
- Every `Reservation` is settled exactly once per part (one part per prompt), to the tokens
  actually billed, or cancelled; the held worst case then turns into actual usage in the
  same minute bucket it was taken in, and the key's in-flight slot is released.
- Every prompt of a batch counts as one request per minute.
- The budget starts from the ledger's total for the key (read once per process, whether or
  not a budget was set then), so a budget set later still counts earlier usage.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from appliance.auth.keys import ApiKey

WINDOW = 60.0
BUDGET_RETRY_SECONDS = 3600.0   # a spent budget does not come back by waiting; an hour is the hint


@dataclass(slots=True)
class LimitExceeded(Exception):
    message: str
    retry_after: float
    limit: str = "rate"   # which limit: requests_per_minute, tokens_per_minute, token_budget, concurrency

    def __str__(self) -> str:
        return self.message


class _Usage:
    __slots__ = ("requests", "tokens", "budget_used", "held", "inflight", "refused_worst")

    def __init__(self, budget_used: int) -> None:
        self.requests: deque[float] = deque()
        self.tokens: deque[list] = deque()   # [time, tokens]; a held entry is rewritten when settled
        self.budget_used = budget_used       # settled tokens, ever
        self.held = 0                        # worst cases of requests not settled yet
        self.inflight = 0
        self.refused_worst = 0               # worst case of the last request the budget refused


class Reservation:
    """A request's held worst case. `settle(part_worst, actual)` once per part, or `cancel()`."""

    def __init__(self, limiter: RateLimiter | None, usage: _Usage | None, entry: list | None,
                 held: int, parts: int) -> None:
        self._limiter, self._usage, self._entry = limiter, usage, entry
        self.held = held
        self.parts = parts
        self.settled = 0   # tokens billed so far

    def settle(self, part_worst: int, actual: int) -> None:
        """One part ended having billed `actual` tokens of the `part_worst` it held."""
        if self._limiter is not None:
            self._limiter._settle(self, part_worst, actual)

    def cancel(self) -> None:
        """Release whatever is still held, billing nothing more (a request that never ran)."""
        if self._limiter is not None:
            self._limiter._settle(self, None, 0)


UNLIMITED = Reservation(None, None, None, 0, 0)


class RateLimiter:
    """`reserve(key, ...)` before a request runs, then settle the Reservation it returns.

    `budget_source(key)` gives the tokens a key has already used (from the ledger), read once
    per key per process; later usage is counted here, so the budget holds before rows land.
    `max_inflight` caps the requests one key may have running at once (0: no cap).
    """

    def __init__(self, budget_source: Callable[[ApiKey], int] = lambda key: 0,
                 clock: Callable[[], float] = time.monotonic, max_inflight: int = 0) -> None:
        self._budget_source = budget_source
        self._clock = clock
        self.max_inflight = max_inflight
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def reserve(self, key: ApiKey, worst_tokens: int, prompts: int = 1) -> Reservation:
        """Hold `worst_tokens` and count `prompts` requests, or raise LimitExceeded naming the limit."""
        usage = self._usage_of(key)
        now = self._clock()
        with self._lock:
            _expire(usage, now)
            self._check(key, usage, now, worst_tokens, prompts)
            usage.requests.extend([now] * prompts)
            entry = [now, worst_tokens]
            usage.tokens.append(entry)
            usage.held += worst_tokens
            usage.inflight += 1
        return Reservation(self, usage, entry, worst_tokens, prompts)

    def used(self, key: ApiKey) -> tuple[int, int]:
        """(settled tokens ever, tokens held by requests in flight) of a key."""
        usage = self._usage_of(key)
        with self._lock:
            return usage.budget_used, usage.held

    def exhausted(self, key: ApiKey) -> bool:
        """True when the budget has refused a request that it still could not hold, nothing held:
        the key is out of budget for what it asks, though reservations keep usage under 100%."""
        usage = self._usage.get(key.id)
        if usage is None or not key.spec.token_budget:
            return False
        with self._lock:
            return usage.refused_worst > 0 and usage.budget_used + usage.refused_worst > key.spec.token_budget

    def _check(self, key: ApiKey, usage: _Usage, now: float, worst: int, prompts: int) -> None:
        spec, name = key.spec, key.spec.name
        if self.max_inflight and usage.inflight >= self.max_inflight:
            raise LimitExceeded(f"API key '{name}' already has {usage.inflight} requests in flight, the most "
                                f"one key may have at once; retry when one has finished.", 1.0, "concurrency")
        if spec.token_budget and usage.budget_used + usage.held + worst > spec.token_budget:
            usage.refused_worst = worst
            raise LimitExceeded(_budget_message(name, spec.token_budget, usage, worst),
                                BUDGET_RETRY_SECONDS if not usage.held else 1.0, "token_budget")
        if spec.requests_per_minute and len(usage.requests) + prompts > spec.requests_per_minute:
            wait = usage.requests[0] + WINDOW - now if usage.requests else WINDOW
            raise LimitExceeded(f"API key '{name}' is over its rate of {spec.requests_per_minute} requests "
                                f"per minute (a request with {prompts} prompts counts {prompts}).", wait,
                                "requests_per_minute")
        used = sum(n for _, n in usage.tokens)
        if spec.tokens_per_minute and used + worst > spec.tokens_per_minute:
            wait = usage.tokens[0][0] + WINDOW - now if usage.tokens else WINDOW
            raise LimitExceeded(f"API key '{name}' is over its rate of {spec.tokens_per_minute} tokens per "
                                f"minute: {used} used or held in the last minute, and this request may use up "
                                f"to {worst} (prompt + n x max_tokens); lower max_tokens or retry later.",
                                wait, "tokens_per_minute")

    def _settle(self, reservation: Reservation, part_worst: int | None, actual: int) -> None:
        """Turn `part_worst` of the hold (None: all of it, the last part) into `actual` usage."""
        usage = reservation._usage
        with self._lock:
            if reservation.parts <= 0:
                return   # settled already
            last = part_worst is None or reservation.parts == 1
            released = reservation.held if last else min(part_worst, reservation.held)
            reservation.held -= released
            reservation.settled += actual
            reservation.parts = 0 if last else reservation.parts - 1
            usage.held -= released
            usage.budget_used += actual
            reservation._entry[1] += actual - released   # the minute bucket keeps its time
            if last:
                usage.inflight -= 1

    def _usage_of(self, key: ApiKey) -> _Usage:
        usage = self._usage.get(key.id)
        if usage is None:
            start = self._budget_source(key)
            with self._lock:
                usage = self._usage.setdefault(key.id, _Usage(start))
        return usage


def _budget_message(name: str, budget: int, usage: _Usage, worst: int) -> str:
    if usage.budget_used >= budget:
        return f"API key '{name}' has used its token budget ({usage.budget_used} of {budget} tokens)."
    return (f"API key '{name}' cannot fit this request in its token budget: {usage.budget_used} of {budget} "
            f"tokens used, {usage.held} held by requests in flight, and this one may use up to {worst} "
            f"(prompt + n x max_tokens); lower max_tokens.")


def _expire(usage: _Usage, now: float) -> None:
    while usage.requests and usage.requests[0] <= now - WINDOW:
        usage.requests.popleft()
    while usage.tokens and usage.tokens[0][0] <= now - WINDOW:
        usage.tokens.popleft()
