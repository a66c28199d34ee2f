"""Reading the model a request names, and finding its engine after checking the key may use it."""
from __future__ import annotations

from typing import Any, Generic, NamedTuple, TypeVar

from appliance.api.errors import ApiError
from appliance.api.validation import parse
from appliance.auth.keys import ApiKey

B = TypeVar("B")


class ModelRequest(NamedTuple, Generic[B]):
    appliance: Any
    body: B
    model: str


def model_request(body_model: type[B]) -> ModelRequest[B]:
    """How chat, completions and embeddings start: the appliance, the body read into its model
    (a 400 naming the first bad field), and the model the body names."""
    from appliance.services import current_appliance

    body = parse(body_model)
    return ModelRequest(current_appliance(), body, body.model)


def engine_for(appliance: Any, model: str, key: ApiKey | None) -> Any:
    if key is not None and not key.allows(model):
        raise ApiError(403, f"API key '{key.spec.name}' may not use model '{model}'; allowed: "
                       f"{', '.join(key.spec.allowed_models)}.", param="model", code="model_not_allowed")
    return appliance.models.get(model)   # ModelNotLoaded -> 404 naming the loaded models


def max_model_len(engine: Any) -> int:
    model = getattr(engine, "model", None)
    return int(getattr(engine, "max_model_len", None) or getattr(model, "max_model_len", 2048))
