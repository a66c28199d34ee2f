"""Per-key request and token rates over a sliding minute, the lifetime token budget, and the
number of requests a key may have in flight.

Invariants:
- `reserve` holds a request's worst case (prompt + n x max_tokens for every prompt) against
  the token rate (here, under one lock) and the budget (in the shared database, KeyBudgets)
  before anything runs, and refuses what cannot fit. So settled usage + held worst cases <=
  each limit at every moment, and settled usage alone can never exceed it. The budget holds
  across every appliance on the database; rates and the in-flight cap are per node.
- Every `Reservation` is settled exactly once per part (one part per prompt), to the tokens
  actually billed, or cancelled; the held worst case then turns into actual usage in the
  same minute bucket it was taken in, and the key's in-flight slot is released.
- Every prompt of a batch counts as one request per minute.
- The budget counts every token a key was ever billed (seeded from the ledger by migration
  0008), so a budget set later still counts earlier usage.
- If the database cannot be reached, a key with a budget is refused (503: the budget cannot
  be held), and a key without one is served, its tokens then billed in the ledger only.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from appliance.auth.budgets import KeyBudgets
from appliance.auth.keys import ApiKey

log = logging.getLogger("airlock.auth")

WINDOW = 60.0
BUDGET_RETRY_SECONDS = 3600.0   # a spent budget does not come back by waiting; an hour is the hint
STORE_RETRY_SECONDS = 5.0


@dataclass(slots=True)
class LimitExceeded(Exception):
    message: str
    retry_after: float
    limit: str = "rate"   # requests_per_minute, tokens_per_minute, token_budget, concurrency, budget_store

    def __str__(self) -> str:
        return self.message


class _Usage:
    """What this node counts of one key: its last minute and its requests in flight."""
    __slots__ = ("requests", "tokens", "inflight", "refused")

    def __init__(self) -> None:
        self.requests: deque[float] = deque()
        self.tokens: deque[list] = deque()   # [time, tokens]; a held entry is rewritten when settled
        self.inflight = 0
        self.refused: tuple[int, int] = (0, 0)   # (spent then, worst case) of the last budget refusal


class Reservation:
    """A request's held worst case. `settle(part_worst, actual)` once per part, or `cancel()`."""

    def __init__(self, limiter: RateLimiter | None, usage: _Usage | None, entry: list | None,
                 held: int, parts: int, key_id: str = "", in_db: bool = False) -> None:
        self._limiter, self._usage, self._entry = limiter, usage, entry
        self.key_id, self.in_db = key_id, in_db   # in_db: the hold is in the database's budget
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

    `budgets` holds the token budgets in the shared database; `max_inflight` caps the requests
    one key may have running at once on this node (0: no cap).
    """

    def __init__(self, budgets: KeyBudgets, clock: Callable[[], float] = time.monotonic,
                 max_inflight: int = 0) -> None:
        self.budgets = budgets
        self._clock = clock
        self.max_inflight = max_inflight
        self._lock = threading.Lock()
        self._usage: dict[str, _Usage] = {}

    def reserve(self, key: ApiKey, worst_tokens: int, prompts: int = 1) -> Reservation:
        """Hold `worst_tokens` and count `prompts` requests, or raise LimitExceeded naming the limit."""
        now = self._clock()
        with self._lock:
            usage = self._usage.setdefault(key.id, _Usage())
            _expire(usage, now)
            self._check_rates(key, usage, now, worst_tokens, prompts)
            usage.requests.extend([now] * prompts)
            entry = [now, worst_tokens]
            usage.tokens.append(entry)
            usage.inflight += 1
        try:
            in_db = self._hold(key, usage, worst_tokens)
        except LimitExceeded:
            with self._lock:   # nothing ran: this request takes back its place in the minute
                usage.tokens.remove(entry)
                for _ in range(prompts):
                    usage.requests.remove(now)
                usage.inflight -= 1
            raise
        return Reservation(self, usage, entry, worst_tokens, prompts, key.id, in_db)

    def used(self, key: ApiKey) -> tuple[int, int]:
        """(settled tokens ever, tokens held by requests in flight) of a key, on every node."""
        return self.budgets.state(key.id)

    def exhausted(self, key: ApiKey) -> bool:
        """True when the budget has refused a request that it could not hold even with nothing
        else held: the key is out of budget for what it asks, though usage stays under 100%."""
        usage = self._usage.get(key.id)
        if usage is None or not key.spec.token_budget:
            return False
        spent, worst = usage.refused
        return worst > 0 and spent + worst > key.spec.token_budget

    def _hold(self, key: ApiKey, usage: _Usage, worst: int) -> bool:
        """Hold `worst` in the database; True if held there, False if served without (no budget,
        database unreachable). Raises LimitExceeded when the budget refuses or cannot be read."""
        try:
            if self.budgets.hold(key.id, worst):
                usage.refused = (0, 0)
                return True
            spent, held = self.budgets.state(key.id)
        except SQLAlchemyError as exc:
            if not key.spec.token_budget:
                log.warning("budget store unreachable; serving key %s (no budget) without a hold: %s", key.id, exc)
                return False
            raise LimitExceeded(f"API key '{key.spec.name}' has a token budget and the database that holds "
                                f"it cannot be reached; retry shortly.", STORE_RETRY_SECONDS, "budget_store") from None
        usage.refused = (spent, worst)
        budget = key.spec.token_budget
        raise LimitExceeded(_budget_message(key.spec.name, budget, spent, held, worst),
                            BUDGET_RETRY_SECONDS if not held else 1.0, "token_budget")

    def _check_rates(self, key: ApiKey, usage: _Usage, now: float, worst: int, prompts: int) -> None:
        spec, name = key.spec, key.spec.name
        if self.max_inflight and usage.inflight >= self.max_inflight:
            raise LimitExceeded(f"API key '{name}' already has {usage.inflight} requests in flight, the most "
                                f"one key may have at once; retry when one has finished.", 1.0, "concurrency")
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
        with self._lock:
            if reservation.parts <= 0:
                return   # settled already
            last = part_worst is None or reservation.parts == 1
            released = reservation.held if last else min(part_worst, reservation.held)
            reservation.held -= released
            reservation.settled += actual
            reservation.parts = 0 if last else reservation.parts - 1
            reservation._entry[1] += actual - released   # the minute bucket keeps its time
            if last:
                reservation._usage.inflight -= 1
        if reservation.in_db:
            try:
                self.budgets.settle(reservation.key_id, released, actual)
            except SQLAlchemyError as exc:   # the hold stays until this node restarts (release_node)
                log.error("could not settle %d tokens of key %s in the budget store: %s",
                          actual, reservation.key_id, exc)


def _budget_message(name: str, budget: int, spent: int, held: int, worst: int) -> str:
    if spent >= budget:
        return f"API key '{name}' has used its token budget ({spent} of {budget} tokens)."
    return (f"API key '{name}' cannot fit this request in its token budget: {spent} of {budget} "
            f"tokens used, {held} held by requests in flight, and this one may use up to {worst} "
            f"(prompt + n x max_tokens); lower max_tokens.")


def _expire(usage: _Usage, now: float) -> None:
    while usage.requests and usage.requests[0] <= now - WINDOW:
        usage.requests.popleft()
    while usage.tokens and usage.tokens[0][0] <= now - WINDOW:
        usage.tokens.popleft()
