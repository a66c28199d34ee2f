"""/admin/slo, /admin/scheduler and /admin/frontier: the service-level objective and the batching
limits of each loaded model, changed at run time; live SLO attainment; the latest sweep's
frontier with the point the SLO picks and the point the server is at now."""
from __future__ import annotations

from flask import Response, jsonify, request

from appliance import audit
from appliance.api.admin import admin_blueprint, loaded_engines
from appliance.api.errors import ApiError
from appliance.api.admin_bodies import SloTargets
from appliance.api.fields import changed_settings, settings_change
from appliance.api.validation import parse
from appliance.config import SchedulerSettings

bp = admin_blueprint("admin_slo")
BATCHING = ("max_num_seqs", "max_num_batched_tokens", "max_prefill_chunk")


def _appliance():
    from appliance.services import current_appliance

    return current_appliance()


def slo_view(engine) -> dict:
    config, scheduler = engine.config, engine.scheduler
    return {**engine.slo.live(), "batching": {name: getattr(config, name) for name in BATCHING},
            "seq_limit": scheduler.seq_limit}


@bp.get("/slo")
def get_slo() -> Response:
    return jsonify({name: slo_view(engine) for name, engine in loaded_engines(None).items()})


@bp.put("/slo")
def set_slo() -> Response:
    from engine.slo import Slo

    body = parse(SloTargets)
    slo = Slo(body.ttft_p95_seconds, body.itl_p95_seconds)
    engines = loaded_engines(body.model)
    for name, engine in engines.items():
        before = slo_view(engine)
        engine.set_slo(slo)
        audit.record("slo.targets", name, before, slo_view(engine))
    return jsonify({name: slo_view(engine) for name, engine in engines.items()})


@bp.put("/scheduler")
def set_scheduler() -> Response:
    model, changes = settings_change()
    _refuse_unknown(changes, BATCHING)
    engines = loaded_engines(model)
    current = {model: {name: getattr(engine.config, name) for name in BATCHING} for model, engine in engines.items()}
    values = {model: changed_settings(SchedulerSettings, now, changes).model_dump(include=set(BATCHING))
              for model, now in current.items()}
    for model, engine in engines.items():
        engine.set_batching(**values[model])
        audit.record("scheduler.batching", model, current[model], values[model])
    return jsonify({name: slo_view(engine) for name, engine in engines.items()})


@bp.get("/frontier")
def frontier() -> Response:
    from appliance.ledger.bench_runs import latest_sweep
    from engine.bench.frontier import choose

    appliance = _appliance()
    model = request.args.get("model") or (appliance.model_names() or [None])[0]
    if model is None:
        raise ApiError(404, "no model is loaded.", param="model", code="model_not_found")
    engine = appliance.models.get(model)
    sweep = latest_sweep(appliance.ledger.engine, model) if appliance.ledger is not None else None
    slo = engine.slo.slo
    chosen = choose(sweep.points, slo.ttft_p95, slo.itl_p95) if sweep and slo.active else None
    return jsonify({"model": model, "sweep": sweep.as_dict() if sweep else None,
                    "chosen": chosen.point.as_dict() if chosen and chosen.point else None,
                    "explanation": chosen.explanation if chosen else [], "live": slo_view(engine)})


def _refuse_unknown(changes: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ApiError(400, f"unknown setting(s): {', '.join(unknown)}; known: model, {', '.join(known)}.",
                       param=unknown[0], code="invalid_value")
