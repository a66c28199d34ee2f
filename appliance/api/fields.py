"""Reading a JSON request body with the type of every field checked, naming the field on error."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from appliance.api.errors import ApiError

_MISSING = object()
S = TypeVar("S", bound=BaseModel)


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


def changed_settings(section: type[S], current: Mapping[str, Any], changes: Mapping[str, Any]) -> S:
    """`current` with `changes`, validated by the config section's own schema (appliance/config.py),
    strictly: JSON types as given. A 400 names the first bad or unknown setting."""
    from appliance.config import config_error

    try:
        return section.model_validate({**current, **changes}, strict=True)
    except ValidationError as exc:
        error = config_error(exc)
        raise ApiError(400, f"{error}.", param=error.setting, code="invalid_value") from None


class Fields:
    """Typed access to a JSON object; each getter raises a 400 naming the parameter."""

    def __init__(self, data: dict[str, Any], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise ApiError(400, f"'{self.prefix}{name}' is required.", param=self.prefix + name,
                               code="missing_required_parameter")
            return _MISSING
        return value

    def _bad(self, name: str, kind: str, value: Any) -> ApiError:
        return ApiError(400, f"'{self.prefix}{name}' must be {kind}, got {type(value).__name__} "
                        f"{json.dumps(value)[:60]}.", param=self.prefix + name, code="invalid_type")

    def string(self, name: str, default: str | None = None, required: bool = False) -> str | None:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if not isinstance(value, str):
            raise self._bad(name, "a string", value)
        return value

    def integer(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, "an integer", value)
        return value

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(name, "a number", value)
        return float(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise self._bad(name, "a boolean", value)
        return value

    def obj(self, name: str) -> Fields:
        value = self._get(name, False)
        if value is _MISSING:
            return Fields({}, f"{self.prefix}{name}.")
        if not isinstance(value, dict):
            raise self._bad(name, "an object", value)
        return Fields(value, f"{self.prefix}{name}.")

    def array(self, name: str, required: bool = False) -> list | None:
        value = self._get(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            raise self._bad(name, "an array", value)
        return value

    def string_list(self, name: str) -> list[str]:
        """A string or an array of strings (OpenAI's `stop`)."""
        value = self._get(name, False)
        if value is _MISSING:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise self._bad(name, "a string or an array of strings", value)
