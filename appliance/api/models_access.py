"""Finding the engine for a request's model, after checking the key may use it."""
from __future__ import annotations

from typing import Any

from appliance.api.errors import ApiError
from appliance.auth.keys import ApiKey


def engine_for(appliance: Any, model: str, key: ApiKey | None) -> Any:
    if key is not None and not key.allows(model):
        raise ApiError(403, f"API key '{key.spec.name}' may not use model '{model}'; allowed: "
                       f"{', '.join(key.spec.allowed_models)}.", param="model", code="model_not_allowed")
    return appliance.models.get(model)   # ModelNotLoaded -> 404 naming the loaded models


def max_model_len(engine: Any) -> int:
    model = getattr(engine, "model", None)
    return int(getattr(engine, "max_model_len", None) or getattr(model, "max_model_len", 2048))
