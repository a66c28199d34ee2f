"""Reading a JSON request body into a pydantic model. A ValidationError becomes OpenAI's 400
with `param` the field's path (`messages[0].role`, `prompt[1]`) and a one-line message that
names the field and says what is wrong with it.

Before the model sees the body, two things JSON leaves open are settled: a null member of an
object counts as absent (OpenAI clients send null for "not given"), so the field's default
applies, except for the top-level fields a model lists in `NULL_IS_A_VALUE` (there null is a
value the body gives, e.g. "clear this setting"); and a number with no fraction is an integer
(2.0 is 2, as JSON does not tell them apart).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Annotated, Any, TypeVar, Union

from flask import request
from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError
from pydantic_core import ErrorDetails

from appliance.api.errors import ApiError

M = TypeVar("M", bound=BaseModel)
TAG = "<"   # a union branch's tag in an error's location: left out of the field path


class Body(BaseModel):
    """A request body: types are not coerced ("2" is not an integer, 1 is not a boolean), and
    fields Airlock does not read are ignored, as OpenAI clients send some of those."""
    model_config = ConfigDict(strict=True, extra="ignore")


def json_kind(value: Any) -> str | None:
    """The JSON type of a parsed value, by JSON Schema's names."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for kind, types in (("integer", int), ("number", float), ("string", str), ("array", list), ("object", dict)):
        if isinstance(value, types):
            return kind
    return None


def one_of(message: str, branches: dict[str, Any], pick: Callable[[Any], str | None] = json_kind) -> Any:
    """A union that validates the input against one branch only, the one `pick` names (by
    default the input's JSON type), so an error states the rule that branch broke rather than
    every branch's; an input no branch takes is an error with `message` ("must be ...")."""
    union = Union[tuple(Annotated[t, Tag(TAG + name)] for name, t in branches.items())]  # noqa: UP007
    return Annotated[union, Discriminator(lambda v: TAG + (pick(v) or "?"), custom_error_type="invalid_type",
                                          custom_error_message=message)]


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def parse(model: type[M]) -> M:
    """The request's JSON body read into `model`, or a 400 naming the first bad field."""
    try:
        body = settled(json_body(), keep=getattr(model, "NULL_IS_A_VALUE", frozenset()))
    except RecursionError:
        raise ApiError(400, "The request body is nested too deeply.", code="invalid_json") from None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc) from None


def settled(value: Any, keep: Collection[str] = ()) -> Any:
    """`value` with every null member of an object left out (null array elements are kept, and
    so are the top-level members named in `keep`) and every integral float an int."""
    if isinstance(value, dict):
        return {k: settled(v) for k, v in value.items() if v is not None or k in keep}
    if isinstance(value, list):
        return [settled(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def invalid(exc: ValidationError) -> ApiError:
    """The first error of `exc` as OpenAI's 400."""
    error = exc.errors(include_url=False)[0]
    param = field_path(error["loc"])
    problem, code = describe(error)
    return ApiError(400, f"'{param}' {problem}." if param else f"The request body {problem}.",
                    param=param or None, code=code)


def field_path(loc: tuple[int | str, ...]) -> str:
    """("messages", 0, "role") -> "messages[0].role"; union tags are left out."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not part.startswith(TAG):
            path += f".{part}" if path else part
    return path


_KINDS = {"string_type": "a string", "int_type": "an integer", "float_type": "a number", "bool_type": "a boolean",
          "list_type": "an array", "dict_type": "an object", "model_type": "an object",
          "model_attributes_type": "an object", "finite_number": "a finite number"}
_BOUNDS = {"greater_than_equal": ("at least", "ge"), "greater_than": ("greater than", "gt"),
           "less_than_equal": ("at most", "le"), "less_than": ("less than", "lt")}


def describe(error: ErrorDetails) -> tuple[str, str]:
    """(what is wrong, OpenAI's `code`) for one pydantic error; the field name goes before it."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "is required", "missing_required_parameter"
    if kind == "extra_forbidden":
        return "is not a field of this request", "invalid_value"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, {_got(value)}", "invalid_type"
    if kind == "invalid_type":   # no branch of a one_of union takes this JSON type
        return f"{error['msg']}, {_got(value)}", "invalid_type"
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        return f"must be {words} {_number(ctx[key])}, got {json.dumps(value)}", "invalid_value"
    if kind == "literal_error":
        return f"must be {ctx['expected']}, {_got(value)}", "invalid_value"
    return _size(kind, ctx, value) or (error["msg"], "unsupported_parameter" if kind == "unsupported_parameter"
                                       else "invalid_value")


def _size(kind: str, ctx: dict, value: Any) -> tuple[str, str] | None:
    """Too few or too many array items or string characters."""
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return "must be a non-empty array", "invalid_value"
        return f"must hold at least {ctx['min_length']} items, got {ctx['actual_length']}", "invalid_value"
    if kind == "too_long":
        return f"may hold at most {ctx['max_length']} items, got {ctx['actual_length']}", "invalid_value"
    if kind == "string_too_short":
        return "must be a non-empty string", "invalid_value"
    if kind == "string_too_long":
        return f"may have at most {ctx['max_length']} characters, got {len(value)}", "invalid_value"
    return None


def _number(bound: float) -> int | float:
    """2.0 -> 2: a float field's bounds read as written."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _got(value: Any) -> str:
    if value is None:
        return "got null"
    return f"got {json_kind(value)} {json.dumps(value)[:60]}"
