"""Run-time changes of config sections ([cache], [scheduler], [speculation]): the body names
the settings it changes, and optionally the loaded model they apply to; the result is validated
by the section's own model in appliance/config.py."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from appliance.api.admin_bodies import Target
from appliance.api.errors import ApiError
from appliance.api.validation import json_body, parse

S = TypeVar("S", bound=BaseModel)


def settings_change() -> tuple[str | None, dict[str, Any]]:
    """(the loaded model the request's body targets, None for every one; the settings it changes)."""
    model = parse(Target).model
    return model, {k: v for k, v in json_body().items() if k != "model"}


def changed_settings(section: type[S], current: Mapping[str, Any], changes: Mapping[str, Any]) -> S:
    """`current` with `changes`, validated by the config section's own schema (appliance/config.py),
    strictly: JSON types as given. A 400 names the first bad or unknown setting."""
    from appliance.config import config_error

    try:
        return section.model_validate({**current, **changes}, strict=True)
    except ValidationError as exc:
        error = config_error(exc)
        raise ApiError(400, f"{error}.", param=error.setting, code="invalid_value") from None
