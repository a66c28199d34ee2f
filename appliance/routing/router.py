"""The router: the route set in force, the decision for one request, and its counters.

Invariants:
- The route set is replaced whole (validated first); a refused edit leaves the running set
  untouched, and readers see either the old set or the new one, never a mix.
- A decision never names a tier the caller may not use: the key's allowed models (routes in
  that list stand for their tiers) and the tenant's allowed tiers (routing.tenant_tiers).
- `Decision.attempts` lists every tier the request may try, in order: the chosen tier (after
  spilling), then the rest of the allowed tiers for fallback when a tier fails at submit.
- Counters only grow: requests per (route, tier, rule), spills per (route, from, to),
  fallbacks per (route, from tier).
"""
from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.routing.classifier import ComplexityClassifier, train_file
from appliance.routing.load import TierLoad
from appliance.routing.route import Route, RouteError, parse_routes
from appliance.routing.rules import RouteInput, choose, spill_order

log = logging.getLogger("airlock.routing")
SPILL_RULE = "spill"
FALLBACK_RULE = "fallback"


@dataclass(slots=True, frozen=True)
class Busy:
    kind: str                       # "unloaded" | "load"
    text: str
    pressure: float = 1.0           # load over the route's limit (queue / max_queue, ttft / slo)


@dataclass(slots=True)
class Decision:
    route: str
    tier: str                       # where the request goes first
    rule: str                       # the rule that chose it (spill / fallback when load moved it)
    chosen: str = ""                # the tier the rules chose, before load
    why: list[str] = field(default_factory=list)
    attempts: list[tuple[str, str]] = field(default_factory=list)   # (tier, rule) in order
    complexity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"route": self.route, "tier": self.tier, "rule": self.rule, "chosen": self.chosen, "why": self.why,
                "fallbacks": [t for t, _ in self.attempts[1:]], "complexity": self.complexity}


class Router:
    def __init__(self, routes: dict[str, Route] | None = None, *, tenant_tiers: dict[str, list[str]] | None = None,
                 state_path: Path | None = None, classifier_path: Path | None = None) -> None:
        self._routes = routes or {}
        self.tenant_tiers = tenant_tiers or {}
        self.state_path = state_path
        self.classifier_path = classifier_path
        self.load = TierLoad()
        self.error = ""                                   # why the stored set was not taken at start
        self._classifier: ComplexityClassifier | None = None
        self._classifier_mtime: float | None = None
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.spills: Counter[tuple[str, str, str]] = Counter()
        self.fallbacks: Counter[tuple[str, str]] = Counter()

    # -- the route set ------------------------------------------------------------------

    @property
    def routes(self) -> dict[str, Route]:
        return self._routes

    def get(self, name: str) -> Route | None:
        return self._routes.get(name)

    def replace(self, data: Any, models: set[str]) -> dict[str, Route]:
        """Validate a whole new route set, then put it in force and store it."""
        routes = parse_routes(data, models)
        with self._lock:
            self._routes = routes
            self.error = ""
            self._store()
        return routes

    def upsert(self, item: Any, models: set[str]) -> Route:
        name = item.get("name") if isinstance(item, dict) else None
        others = [r.to_dict() for n, r in self._routes.items() if n != name]
        return self.replace([_definition(r) for r in others] + [item], models)[name]

    def delete(self, name: str, models: set[str]) -> None:
        if name not in self._routes:
            raise RouteError("name", f"no route named {name!r}")
        self.replace([_definition(r.to_dict()) for n, r in self._routes.items() if n != name], models)

    def _store(self) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"routes": [_definition(r.to_dict()) for r in self._routes.values()]}, indent=2))
        tmp.replace(self.state_path)

    # -- one request ----------------------------------------------------------------------

    def allowed_tiers(self, route: Route, allowed_models: list[str], tenant: str | None) -> tuple[str, ...]:
        """The route's tiers this key and tenant may use, in the route's order."""
        allowed = set(route.resolved)
        if allowed_models and route.name not in allowed_models:
            allowed &= self._expand(allowed_models)
        if tenant is not None and tenant in self.tenant_tiers:
            allowed &= self._expand(self.tenant_tiers[tenant])
        return tuple(t for t in route.resolved if t in allowed)

    def _expand(self, names: list[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            route = self._routes.get(name)
            out |= set(route.resolved) if route else {name}
        return out

    def decide(self, route: Route, request: RouteInput, allowed: tuple[str, ...],
               busy: Callable[[str], Busy | None]) -> Decision:
        """Rules first, then load: `busy(tier)` says why the tier cannot take the request now
        (unloaded, or its queue or TTFT over the route's limits), or None when it can."""
        if request.complexity is None and any(r.uses_complexity for r in route.rules):
            request.complexity = self.classifier().score
        tier, rule = choose(route, request, allowed)
        decision = Decision(route.name, tier, rule, chosen=tier, why=[_why(route, rule, tier, request)])
        if request.complexity is not None and request._score is not None:
            decision.complexity = round(request._score, 4)
        order = [tier] + spill_order(route.resolved, tier, allowed)
        skipped: list[Busy] = []
        for i, candidate in enumerate(order):
            reason = busy(candidate)
            if reason is None:
                if i > 0:
                    overloaded = any(b.kind == "load" for b in skipped)
                    decision.tier, decision.rule = candidate, SPILL_RULE if overloaded else FALLBACK_RULE
                decision.attempts = [(candidate, decision.rule)] + [(t, FALLBACK_RULE) for t in order[i + 1:]]
                return decision
            skipped.append(reason)
            decision.why.append(f"{candidate}: {reason.text}")
        # every tier is unloaded or over its limits: the least pressed loaded one takes it
        pressed = sorted((b.pressure, i, t) for i, (t, b) in enumerate(zip(order, skipped)) if b.kind == "load")
        loaded = [t for _, _, t in pressed]
        if loaded:
            decision.tier = loaded[0]
            decision.rule = rule if loaded[0] == tier else SPILL_RULE
            decision.why.append(f"every tier is over its limits: {loaded[0]}, the least pressed, takes it")
        decision.attempts = [(t, decision.rule if i == 0 else FALLBACK_RULE) for i, t in enumerate(loaded)]
        return decision

    def count(self, decision: Decision, tier: str, rule: str) -> None:
        """A request was submitted to `tier` under `rule`."""
        with self._lock:
            self.requests[(decision.route, tier, rule)] += 1
            if rule == SPILL_RULE:
                self.spills[(decision.route, decision.chosen, tier)] += 1
            elif rule == FALLBACK_RULE:
                self.fallbacks[(decision.route, decision.chosen)] += 1

    def observe(self, tier: str, ttft: float | None) -> None:
        self.load.observe(tier, ttft)

    # -- the classifier -----------------------------------------------------------------

    def classifier(self) -> ComplexityClassifier:
        """The retrained weights from classifier_path when present (reread when the file
        changes), else the model trained from the shipped labelled file."""
        mtime = _mtime(self.classifier_path)
        if self._classifier is None or mtime != self._classifier_mtime:
            with self._lock:
                try:
                    self._classifier = (ComplexityClassifier.load(self.classifier_path) if mtime is not None
                                        else train_file())
                except (OSError, ValueError, KeyError) as exc:
                    log.error("cannot read the complexity classifier %s: %s; using the shipped one",
                              self.classifier_path, exc)
                    self._classifier = self._classifier or train_file()
                self._classifier_mtime = mtime
        return self._classifier

    # -- reporting ------------------------------------------------------------------------

    def share(self) -> dict[str, dict[str, Any]]:
        """Per route: requests per tier, spills and fallbacks so far."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {n: {"tiers": {}, "spills": 0, "fallbacks": 0} for n in self._routes}
            for (route, tier, _), n in self.requests.items():
                entry = out.setdefault(route, {"tiers": {}, "spills": 0, "fallbacks": 0})
                entry["tiers"][tier] = entry["tiers"].get(tier, 0) + n
            for (route, _, _), n in self.spills.items():
                out.setdefault(route, {"tiers": {}, "spills": 0, "fallbacks": 0})["spills"] += n
            for (route, _), n in self.fallbacks.items():
                out.setdefault(route, {"tiers": {}, "spills": 0, "fallbacks": 0})["fallbacks"] += n
        return out


def _why(route: Route, rule: str, tier: str, request: RouteInput) -> str:
    found = next((r for r in route.rules if r.name == rule), None)
    if found is not None:
        conditions = ", ".join(f"{k}={v}" for k, v in found.conditions.items())
        return f"rule {rule} ({conditions}; prompt_tokens={request.prompt_tokens}, max_tokens={request.max_tokens}) -> {tier}"
    if rule == "allowed-tiers":
        return f"allowed-tiers: the key or tenant may not use the chosen tier -> {tier}"
    return f"no rule matched (prompt_tokens={request.prompt_tokens}, max_tokens={request.max_tokens}) -> {tier}"


def _definition(data: dict[str, Any]) -> dict[str, Any]:
    """A route's dict as written (without the computed fields), for storing and re-validating."""
    out = {k: v for k, v in data.items() if k != "resolved" and v not in ("", 0, 0.0, [], None)}
    out["tiers"] = data["tiers"]
    return out


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path is not None else None
    except OSError:
        return None
