"""/admin/speculation: the speculative-decoding policy of each loaded model and its figures."""
from __future__ import annotations

from dataclasses import asdict, fields, replace

from flask import Response, jsonify

from appliance import audit
from appliance.api.admin import admin_blueprint, loaded_engines
from appliance.api.errors import ApiError
from appliance.api.fields import Fields, json_body

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
    from engine.speculation import SpeculationConfig

    body = json_body()
    model = Fields(body).string("model")
    changes = {k: v for k, v in body.items() if k != "model"}
    known = {f.name for f in fields(SpeculationConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ApiError(400, f"unknown speculation setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}.",
                       param=unknown[0], code="invalid_value")
    engines = loaded_engines(model)
    try:
        policies = {name: replace(engine.speculation, **changes) for name, engine in engines.items()}
    except ValueError as exc:   # SpeculationConfig validates itself; the message names the setting
        raise ApiError(400, str(exc), param=str(exc).split()[1], code="invalid_value") from None
    for name, engine in engines.items():
        before = asdict(engine.speculation)
        engine.set_speculation(policies[name])
        audit.record("speculation.policy", name, before, asdict(policies[name]))
    return jsonify({name: _view(engine) for name, engine in engines.items()})
