"""Routes: a public model name (auto, fast, best) that maps to an ordered list of tiers.

Assumptions, checked when a route set is parsed (`parse_routes`), never on the request path:
- A tier is a model name in the store; whether it is loaded is a request-time fact (an
  unloaded tier is skipped, the request falls back to the next).
- A tier entry may name another route: it stands for that route's tiers, in order. A route
  that reaches itself this way is a cycle and is refused.
- The tier list is the spill and fallback order: a request that cannot stay on the tier its
  rules chose goes to the tiers after it, then to those before it.
- Rules are evaluated in order; the first whose conditions all hold names the tier. A request
  no rule matches takes `default` (the first tier when unset).
Every refusal is a RouteError whose message names the field, e.g. routes.auto.rules[1].tier.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


class RouteError(ValueError):
    """A route definition is invalid; the message names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(slots=True, frozen=True)
class Rule:
    """Conditions on the request (all must hold) and the tier it then takes. Token thresholds
    are integers; complexity thresholds are probabilities from the complexity classifier."""
    tier: str
    name: str = ""
    prompt_tokens_above: int | None = None
    prompt_tokens_at_most: int | None = None
    max_tokens_above: int | None = None
    max_tokens_at_most: int | None = None
    complexity_above: float | None = None
    complexity_at_most: float | None = None

    @property
    def conditions(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("tier", "name") and getattr(self, f.name) is not None}

    @property
    def uses_complexity(self) -> bool:
        return self.complexity_above is not None or self.complexity_at_most is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tier": self.tier, **self.conditions}


@dataclass(slots=True, frozen=True)
class Route:
    name: str
    tiers: tuple[str, ...]                 # as written (may name other routes)
    rules: tuple[Rule, ...] = ()
    default: str = ""                      # "" -> the first tier
    max_queue: int = 0                     # requests queued or running on a tier; 0: no queue spill
    slo_ttft_seconds: float = 0.0          # measured TTFT above this spills; 0: no TTFT spill
    description: str = ""
    resolved: tuple[str, ...] = field(default=(), compare=False)   # model names, routes expanded

    @property
    def default_tier(self) -> str:
        return self.default or self.resolved[0]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tiers"], data["resolved"] = list(self.tiers), list(self.resolved)
        data["rules"] = [rule.to_dict() for rule in self.rules]
        return data


_INT_FIELDS = ("prompt_tokens_above", "prompt_tokens_at_most", "max_tokens_above", "max_tokens_at_most")
_PROB_FIELDS = ("complexity_above", "complexity_at_most")
_ROUTE_FIELDS = {f.name for f in fields(Route)} - {"resolved"}
_RULE_FIELDS = {f.name for f in fields(Rule)}


def parse_routes(data: Any, models: set[str]) -> dict[str, Route]:
    """Validate a whole route set (a list of route objects) against the store's model names."""
    if not isinstance(data, list):
        raise RouteError("routes", f"must be a list of route objects, got {type(data).__name__}")
    raw: dict[str, dict] = {}
    for i, item in enumerate(data):
        name = _route_name(item, i, models)
        if name in raw:
            raise RouteError(f"routes[{i}].name", f"route {name!r} is defined twice")
        raw[name] = item
    routes: dict[str, Route] = {}
    for name, item in raw.items():
        routes[name] = _route(name, item, raw, models)
    return routes


def _route_name(item: Any, index: int, models: set[str]) -> str:
    where = f"routes[{index}]"
    if not isinstance(item, dict):
        raise RouteError(where, f"must be an object, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise RouteError(f"{where}.name", f"must be a name of letters, digits, '.', '_', ':' or '-', got {name!r}")
    if name in models:
        raise RouteError(f"{where}.name", f"{name!r} is already a model name; a route needs its own name")
    return name


def _route(name: str, item: dict, raw: dict[str, dict], models: set[str]) -> Route:
    where = f"routes.{name}"
    unknown = sorted(set(item) - _ROUTE_FIELDS)
    if unknown:
        raise RouteError(f"{where}.{unknown[0]}", f"unknown field; known: {', '.join(sorted(_ROUTE_FIELDS))}")
    tiers = _tier_list(item.get("tiers"), f"{where}.tiers")
    resolved = _resolve(name, raw, models, [])
    rules = tuple(_rule(r, f"{where}.rules[{i}]", resolved)
                  for i, r in enumerate(_list(item.get("rules", []), f"{where}.rules")))
    default = item.get("default", "")
    if default and default not in resolved:
        raise RouteError(f"{where}.default", f"{default!r} is not one of the route's tiers ({', '.join(resolved)})")
    return Route(name=name, tiers=tuple(tiers), rules=rules, default=default,
                 max_queue=_number(item, "max_queue", where, int, 0),
                 slo_ttft_seconds=_number(item, "slo_ttft_seconds", where, float, 0.0),
                 description=_text(item.get("description", ""), f"{where}.description"), resolved=resolved)


def _resolve(name: str, raw: dict[str, dict], models: set[str], path: list[str]) -> tuple[str, ...]:
    """The route's tiers as model names, other routes expanded; refuses cycles and unknown tiers."""
    where = f"routes.{name}.tiers"
    if name in path:
        raise RouteError(f"routes.{path[0]}.tiers", f"cycle: {' -> '.join(path + [name])}")
    out: list[str] = []
    for i, tier in enumerate(_tier_list(raw[name].get("tiers"), where)):
        if tier in raw:
            expanded = _resolve(tier, raw, models, path + [name])
        elif tier in models:
            expanded = (tier,)
        else:
            raise RouteError(f"{where}[{i}]", f"unknown tier {tier!r}: not a model in the store nor a route "
                             f"(models: {', '.join(sorted(models)) or 'none'})")
        out += [t for t in expanded if t not in out]
    return tuple(out)


def _tier_list(value: Any, where: str) -> list[str]:
    items = _list(value, where)
    if not items:
        raise RouteError(where, "must name at least one tier")
    for i, tier in enumerate(items):
        if not isinstance(tier, str) or not tier:
            raise RouteError(f"{where}[{i}]", f"must be a model or route name, got {tier!r}")
    return items


def _rule(item: Any, where: str, tiers: tuple[str, ...]) -> Rule:
    if not isinstance(item, dict):
        raise RouteError(where, f"must be an object, got {type(item).__name__}")
    unknown = sorted(set(item) - _RULE_FIELDS)
    if unknown:
        raise RouteError(f"{where}.{unknown[0]}", f"unknown field; known: {', '.join(sorted(_RULE_FIELDS))}")
    tier = item.get("tier")
    if tier not in tiers:
        raise RouteError(f"{where}.tier", f"{tier!r} is not one of the route's tiers ({', '.join(tiers)})")
    values = {n: _number(item, n, where, int, None) for n in _INT_FIELDS if n in item}
    for n in _PROB_FIELDS:
        if n in item:
            values[n] = _number(item, n, where, float, None)
            if not 0.0 <= values[n] <= 1.0:
                raise RouteError(f"{where}.{n}", f"must be a probability between 0 and 1, got {values[n]}")
    if not values:
        raise RouteError(where, f"needs at least one condition ({', '.join(_INT_FIELDS + _PROB_FIELDS)})")
    return Rule(tier=tier, name=_text(item.get("name", ""), f"{where}.name") or where.rsplit(".", 1)[-1], **values)


def _number(item: dict, name: str, where: str, kind: type, default: Any) -> Any:
    value = item.get(name, default)
    if value is default:
        return value
    ok = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value < 0:
        raise RouteError(f"{where}.{name}", f"must be a non-negative {'integer' if kind is int else 'number'}, "
                         f"got {value!r}")
    return kind(value)


def _list(value: Any, where: str) -> list:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise RouteError(where, f"must be a list, got {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RouteError(where, f"must be a string, got {value!r}")
    return value
