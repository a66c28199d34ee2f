"""Reading the model a request names, and finding its engine after checking the key may use it."""
from __future__ import annotations

from typing import Any, NamedTuple

from appliance.api.errors import ApiError
from appliance.api.fields import Fields, json_body
from appliance.auth.keys import ApiKey


class ModelRequest(NamedTuple):
    appliance: Any
    body: Fields
    model: str


def model_request() -> ModelRequest:
    """How chat, completions and embeddings start: the appliance, the JSON body, its required 'model'."""
    from appliance.services import current_appliance

    appliance = current_appliance()
    body = Fields(json_body())
    return ModelRequest(appliance, body, body.string("model", required=True))


def engine_for(appliance: Any, model: str, key: ApiKey | None) -> Any:
    if key is not None and not key.allows(model):
        raise ApiError(403, f"API key '{key.spec.name}' may not use model '{model}'; allowed: "
                       f"{', '.join(key.spec.allowed_models)}.", param="model", code="model_not_allowed")
    return appliance.models.get(model)   # ModelNotLoaded -> 404 naming the loaded models


def max_model_len(engine: Any) -> int:
    model = getattr(engine, "model", None)
    return int(getattr(engine, "max_model_len", None) or getattr(model, "max_model_len", 2048))
