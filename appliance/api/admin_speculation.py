"""/admin/speculation: the speculative-decoding policy of each loaded model and its figures."""
from __future__ import annotations

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint, loaded_engines
from appliance.api.errors import ApiError
from appliance.api.fields import changed_settings, settings_change
from appliance.config import SpeculationSettings
from appliance.models.errors import InsufficientMemory, StoreError
from engine.errors import InvalidParameter, ModelLoadError

bp = admin_blueprint("admin_speculation")


def _manager():
    from appliance.services import current_appliance

    return current_appliance().models


def _view(name: str, engine) -> dict:
    stats = engine.stats()
    drafted, accepted, drafts = stats.spec_num_draft_tokens, stats.spec_num_accepted_tokens, stats.spec_num_drafts
    return {**_manager().speculation(name).model_dump(),
            "num_drafts": drafts, "num_draft_tokens": drafted, "num_accepted_tokens": accepted,
            "acceptance_rate": accepted / drafted if drafted else None,
            "mean_accepted_length": 1 + accepted / drafts if drafts else None}


@bp.get("/speculation")
def get_policy() -> Response:
    return jsonify({name: _view(name, engine) for name, engine in loaded_engines(None).items()})


@bp.put("/speculation")
def set_policy() -> Response:
    model, changes = settings_change()
    engines, manager = loaded_engines(model), _manager()
    policies = {name: changed_settings(SpeculationSettings, manager.speculation(name).model_dump(), changes)
                for name in engines}
    for name, policy in policies.items():
        before = manager.speculation(name).model_dump()
        try:
            manager.set_speculation(name, policy)
        except InsufficientMemory as exc:
            raise ApiError(409, str(exc), param="draft_model", code="insufficient_memory") from None
        except (InvalidParameter, ModelLoadError, StoreError, ValueError) as exc:   # a draft that cannot draft
            raise ApiError(400, str(exc), param="draft_model", code="invalid_value") from None
        audit.record("speculation.policy", name, before, policy.model_dump())
    return jsonify({name: _view(name, engine) for name, engine in engines.items()})
