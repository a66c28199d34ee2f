"""Routes: a public model name (auto, fast, best) that maps to an ordered list of tiers.

A route set as written is a RouteSet (pydantic models: the config file's [[routing.routes]], the
admin API and /openapi.json read the same ones); `parse_routes` validates one and checks it
against the store. Assumptions, checked then, never on the request path:
- A tier is a model name in the store; whether it is loaded is a request-time fact (an
  unloaded tier is skipped, the request falls back to the next).
- A tier entry may name another route: it stands for that route's tiers, in order. A route
  that reaches itself this way is a cycle and is refused.
- The tier list is the spill and fallback order: a request that cannot stay on the tier its
  rules chose goes to the tiers after it, then to those before it.
- Rules are evaluated in order; the first whose conditions all hold names the tier. A request
  no rule matches takes `default` (the first tier when unset).
Every refusal of parse_routes is a RouteError whose message names the field, e.g.
routes.auto.rules[1].tier; the config file's error names the setting, e.g. routing.routes.0.default.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Annotated, Any

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidatorFunctionWrapHandler, WrapValidator,
                      field_validator, model_validator)
from pydantic_core import ErrorDetails, PydanticCustomError

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


# -- the definitions as written: one model set for [routing] in the config file, the admin API
#    (through parse_routes) and /openapi.json ---------------------------------------------------

def _refusal(message: str) -> Callable[[Any, ValidatorFunctionWrapHandler], Any]:
    """A wrap validator that states the field's rule in Airlock's words: `message` with {got}."""
    def check(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("value_error", message, {"got": repr(value)}) from None
    return check


Count = Annotated[int, Field(ge=0), WrapValidator(_refusal("must be a non-negative integer, got {got}"))]
Seconds = Annotated[float, Field(ge=0), WrapValidator(_refusal("must be a non-negative number, got {got}"))]
Probability = Annotated[float, Field(ge=0, le=1),
                        WrapValidator(_refusal("must be a probability between 0 and 1, got {got}"))]
TierName = Annotated[str, Field(min_length=1), WrapValidator(_refusal("must be a model or route name, got {got}"))]
RouteName = Annotated[str, Field(pattern=NAME.pattern), WrapValidator(
    _refusal("must be a name of letters, digits, '.', '_', ':' or '-', got {got}"))]


class _Written(BaseModel):
    """A definition as written: no coercion, no unknown fields, finite numbers."""
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class RouteRule(_Written):
    """A rule of a route: conditions on the request (all must hold) and the tier it then takes."""
    tier: TierName = Field(description="one of the route's tiers (routes expanded)")
    name: str = Field("", description="empty: rules[<index>]")
    prompt_tokens_above: Count | None = None
    prompt_tokens_at_most: Count | None = None
    max_tokens_above: Count | None = None
    max_tokens_at_most: Count | None = None
    complexity_above: Probability | None = None
    complexity_at_most: Probability | None = None

    @model_validator(mode="after")
    def _a_condition(self) -> RouteRule:
        if not self.conditions():
            raise PydanticCustomError("value_error", "needs at least one condition ({names})",
                                      {"names": ", ".join(_INT_FIELDS + _PROB_FIELDS)})
        return self

    def conditions(self) -> dict[str, float]:
        return {n: v for n in _INT_FIELDS + _PROB_FIELDS if (v := getattr(self, n)) is not None}


class RouteBody(_Written):
    """PUT /admin/routes/{name}: one route; its name is the path's."""
    name: RouteName | None = Field(None, description="ignored: the path names the route")
    tiers: list[TierName] = Field(description="models or routes, in spill and fallback order",
                                  json_schema_extra={"minItems": 1})
    rules: list[RouteRule] = Field([], description="in order; the first that matches names the tier")
    default: str = Field("", description="the tier no rule matched takes; empty: the first tier")
    max_queue: Count = Field(0, description="requests queued or running on a tier before it spills; 0: none")
    slo_ttft_seconds: Seconds = Field(0.0, description="measured TTFT above this spills; 0: none")
    description: str = ""

    @field_validator("tiers")
    @classmethod
    def _a_tier(cls, tiers: list[str]) -> list[str]:
        if not tiers:
            raise PydanticCustomError("value_error", "must name at least one tier")
        return tiers


class RouteDefinition(RouteBody):
    """One route of a set ([[routing.routes]], PUT /admin/routes)."""
    name: RouteName


class RouteSet(BaseModel):
    """PUT /admin/routes: the whole route set."""
    model_config = ConfigDict(strict=True)
    routes: list[RouteDefinition]

    @field_validator("routes")
    @classmethod
    def _consistent(cls, routes: list[RouteDefinition]) -> list[RouteDefinition]:
        return check_set(routes)


def check_set(routes: list[RouteDefinition]) -> list[RouteDefinition]:
    """The rules across routes that need no runtime state: unique names, no cycle, and each
    rule's tier and the default among the route's tiers (other routes expanded). A refusal is a
    PydanticCustomError whose ctx["at"] is the bad field's location within `routes`."""
    seen: set[str] = set()
    for i, route in enumerate(routes):
        if route.name in seen:
            raise _at((i, "name"), "route {name!r} is defined twice", name=route.name)
        seen.add(route.name)
    resolved = resolve_set(routes)
    for i, route in enumerate(routes):
        tiers = resolved[route.name]
        for j, rule in enumerate(route.rules):
            if rule.tier not in tiers:
                raise _at((i, "rules", j, "tier"), "{tier!r} is not one of the route's tiers ({tiers})",
                          tier=rule.tier, tiers=", ".join(tiers))
        if route.default and route.default not in tiers:
            raise _at((i, "default"), "{tier!r} is not one of the route's tiers ({tiers})",
                      tier=route.default, tiers=", ".join(tiers))
    return routes


def resolve_set(routes: list[RouteDefinition]) -> dict[str, tuple[str, ...]]:
    """Each route's tiers with the routes among them expanded, in order, without repeats (a
    tier that is not a route of the set stands for itself); refuses a cycle."""
    index = {route.name: i for i, route in enumerate(routes)}
    out: dict[str, tuple[str, ...]] = {}

    def expand(name: str, path: list[str]) -> tuple[str, ...]:
        if name in path:
            cycle = " -> ".join(path + [name])
            raise _at((index[path[0]], "tiers"), "cycle: {cycle}", cycle=cycle)
        tiers: list[str] = []
        for tier in routes[index[name]].tiers:
            expanded = expand(tier, path + [name]) if tier in index else (tier,)
            tiers += [t for t in expanded if t not in tiers]
        return tuple(tiers)

    for route in routes:
        out[route.name] = expand(route.name, [])
    return out


def _at(at: tuple[int | str, ...], message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("value_error", message.format(**ctx), {"at": at})


# -- the set in force: the definitions checked against the store ------------------------------

def parse_routes(data: Any, models: set[str]) -> dict[str, Route]:
    """Validate a whole route set (a list of route objects) with RouteSet, then against the
    store's model names: a route's name must not be a model's, a tier must be a model or a route."""
    try:
        written = RouteSet.model_validate({"routes": list(data) if isinstance(data, tuple) else data}).routes
    except ValidationError as exc:
        raise route_error(exc.errors(include_url=False)[0], data) from None
    for i, route in enumerate(written):
        if route.name in models:
            raise RouteError(f"routes[{i}].name", f"{route.name!r} is already a model name; a route needs its own name")
    names = {route.name for route in written}
    for route in written:
        for i, tier in enumerate(route.tiers):
            if tier not in names and tier not in models:
                raise RouteError(f"routes.{route.name}.tiers[{i}]", f"unknown tier {tier!r}: not a model in the "
                                 f"store nor a route (models: {', '.join(sorted(models)) or 'none'})")
    resolved = resolve_set(written)
    return {route.name: _route(route, resolved[route.name]) for route in written}


def _route(written: RouteDefinition, resolved: tuple[str, ...]) -> Route:
    rules = tuple(Rule(tier=r.tier, name=r.name or f"rules[{i}]", **r.conditions())
                  for i, r in enumerate(written.rules))
    return Route(name=written.name, tiers=tuple(written.tiers), rules=rules, default=written.default,
                 max_queue=written.max_queue, slo_ttft_seconds=written.slo_ttft_seconds,
                 description=written.description, resolved=resolved)


def route_error(error: ErrorDetails, data: Any) -> RouteError:
    """One pydantic error of RouteSet as a RouteError naming the field as the admin API's
    `param` does: routes[<i>] for a route's name or the route itself, else routes.<name>.<field>."""
    loc = (*error["loc"], *(error.get("ctx") or {}).get("at", ()))
    route = data[loc[1]] if len(loc) > 2 and isinstance(data, list) else None
    if isinstance(route, dict) and isinstance(route.get("name"), str) and loc[2] != "name":
        where = f"routes.{route['name']}" + _path(loc[2:])
    else:
        where = "routes" + _path(loc[1:])
    return RouteError(where, _problem(error, loc))


def _path(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _problem(error: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        model = RouteRule if "rules" in loc else RouteDefinition
        return f"unknown field; known: {', '.join(sorted(model.model_fields))}"
    if kind == "missing":
        return "is required"
    if kind == "list_type":
        return f"must be a list{' of route objects' if loc == ('routes',) else ''}, got {type(value).__name__}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be an object, got {type(value).__name__}"
    if kind == "string_type":
        return f"must be a string, got {value!r}"
    return error["msg"]
