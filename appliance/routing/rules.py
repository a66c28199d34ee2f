"""Rule evaluation: which tier a request takes, before load is considered.

Each step is a few comparisons (the classifier, when a rule asks for it, is one dot product
over hashed text features), so a decision costs microseconds, never a model call.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from appliance.routing.route import Route, Rule

DEFAULT_RULE = "default"
ALLOWED_RULE = "allowed-tiers"


@dataclass(slots=True)
class RouteInput:
    text: str                       # the prompt text the classifier reads
    prompt_tokens: int
    max_tokens: int | None          # as the client asked (None: not given)
    complexity: Callable[[str], float] | None = None
    _score: float | None = None

    def score(self) -> float:
        """The classifier's probability that the prompt is complex; computed once, on demand."""
        if self._score is None:
            self._score = self.complexity(self.text) if self.complexity else 0.0
        return self._score


def matches(rule: Rule, request: RouteInput) -> bool:
    checks = ((rule.prompt_tokens_above, lambda t: request.prompt_tokens > t),
              (rule.prompt_tokens_at_most, lambda t: request.prompt_tokens <= t),
              (rule.max_tokens_above, lambda t: request.max_tokens is not None and request.max_tokens > t),
              (rule.max_tokens_at_most, lambda t: request.max_tokens is not None and request.max_tokens <= t),
              (rule.complexity_above, lambda t: request.score() > t),
              (rule.complexity_at_most, lambda t: request.score() <= t))
    return all(check(threshold) for threshold, check in checks if threshold is not None)


def choose(route: Route, request: RouteInput, allowed: tuple[str, ...]) -> tuple[str, str]:
    """(tier, rule name): the first matching rule's tier, else the default; then held to the
    tiers the caller may use (the nearest allowed tier in the route's order)."""
    tier, rule = route.default_tier, DEFAULT_RULE
    for candidate in route.rules:
        if matches(candidate, request):
            tier, rule = candidate.tier, candidate.name
            break
    if tier in allowed:
        return tier, rule
    return nearest(route.resolved, tier, allowed), ALLOWED_RULE


def nearest(order: tuple[str, ...], tier: str, allowed: tuple[str, ...]) -> str:
    """The allowed tier closest to `tier` in the route's order, later tiers first on a tie."""
    here = order.index(tier)
    return min(allowed, key=lambda t: (abs(order.index(t) - here), order.index(t) < here))


def spill_order(order: tuple[str, ...], tier: str, allowed: tuple[str, ...]) -> list[str]:
    """Where a request goes when `tier` cannot take it: the tiers after it, then those before."""
    here = order.index(tier)
    return [t for t in order[here + 1:] + order[:here] if t in allowed]
