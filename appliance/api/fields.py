"""Typed access to the fields of the admin settings bodies (cache policy, SLO and batching,
speculation), until those are read by models too; every other body has a model in bodies.py."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from appliance.api.errors import ApiError
from appliance.api.validation import json_body

__all__ = ["Fields", "json_body"]
_MISSING = object()
S = TypeVar("S", bound=BaseModel)


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

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise ApiError(400, f"'{name}' is required.", param=name,
                               code="missing_required_parameter")
            return _MISSING
        return value

    def _bad(self, name: str, kind: str, value: Any) -> ApiError:
        return ApiError(400, f"'{name}' must be {kind}, got {type(value).__name__} "
                        f"{json.dumps(value)[:60]}.", param=name, code="invalid_type")

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
