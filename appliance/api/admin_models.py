"""/admin/models: what the store holds and what is loaded; import, load, unload."""
from __future__ import annotations

from dataclasses import asdict

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint
from appliance.api.bodies import ImportRequest, ModelRef
from appliance.api.errors import ApiError
from appliance.api.validation import parse

bp = admin_blueprint("admin_models")


def _manager():
    from appliance.services import current_appliance

    return current_appliance().models


def _call(action, *args):
    """Run a manager action; its errors (unknown model, no room, bad file) become 400/404/409."""
    from appliance.models.errors import InsufficientMemory, ModelNotFound, ModelNotLoaded, StoreError
    from engine.errors import ModelLoadError

    try:
        return action(*args)
    except (ModelNotFound, ModelNotLoaded) as exc:
        raise ApiError(404, str(exc), param="model", code="model_not_found") from None
    except InsufficientMemory as exc:
        raise ApiError(409, str(exc), param="model", code="insufficient_memory") from None
    except (StoreError, ModelLoadError, ValueError, OSError) as exc:
        raise ApiError(400, str(exc), code="invalid_value") from None


@bp.get("/models")
def list_models() -> Response:
    manager = _manager()
    loaded = {info.name: asdict(info) for info in manager.loaded()}
    store = [{**entry.to_json(), "loaded": loaded.get(entry.name)} for entry in manager.store.list()]
    return jsonify({"store": store, "loaded": list(loaded.values()),
                    "budget_bytes": manager.budget_bytes, "free_bytes": manager.free_bytes})


@bp.post("/models/import")
def import_model() -> Response:
    body = parse(ImportRequest)
    entry = _call(_manager().store.import_path, body.path, body.name)
    audit.record("model.import", entry.name, None, {"path": body.path, "size": entry.size})
    response = jsonify(entry.to_json())
    response.status_code = 201
    return response


@bp.post("/models/load")
def load_model() -> Response:
    body = parse(ModelRef)
    info = _call(_manager().load, body.model, body.quantization, body.kv_dtype, body.alias)
    audit.record("model.load", info.name, None, asdict(info))
    return jsonify(asdict(info))


@bp.post("/models/unload")
def unload_model() -> Response:
    body = parse(ModelRef)
    info = asdict(_call(_manager().unload, body.model))
    audit.record("model.unload", body.model, info, None)
    return jsonify(info)
