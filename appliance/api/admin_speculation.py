"""/admin/speculation: the speculative-decoding policy of each loaded model and its figures."""
from __future__ import annotations

from dataclasses import asdict

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint, loaded_engines
from appliance.api.fields import Fields, changed_settings, json_body
from appliance.config import SpeculationSettings

bp = admin_blueprint("admin_speculation")


def _appliance():
    from appliance.services import current_appliance

    return current_appliance()


def _view(engine) -> dict:
    stats = engine.stats()
    drafted, accepted, drafts = stats.spec_num_draft_tokens, stats.spec_num_accepted_tokens, stats.spec_num_drafts
    return {**engine.speculation.to_dict(),
            "num_drafts": drafts, "num_draft_tokens": drafted, "num_accepted_tokens": accepted,
            "acceptance_rate": accepted / drafted if drafted else None,
            "mean_accepted_length": 1 + accepted / drafts if drafts else None}


@bp.get("/speculation")
def get_policy() -> Response:
    return jsonify({name: _view(engine) for name, engine in loaded_engines(None).items()})


@bp.put("/speculation")
def set_policy() -> Response:
    body = json_body()
    model = Fields(body).string("model")
    changes = {k: v for k, v in body.items() if k != "model"}
    engines = loaded_engines(model)
    policies = {name: changed_settings(SpeculationSettings, asdict(engine.speculation), changes).engine_config()
                for name, engine in engines.items()}
    for name, engine in engines.items():
        before = asdict(engine.speculation)
        engine.set_speculation(policies[name])
        audit.record("speculation.policy", name, before, asdict(policies[name]))
    return jsonify({name: _view(engine) for name, engine in engines.items()})
