"""GET /metrics in Prometheus text format, with vLLM's metric stems under the airlock: prefix."""
from __future__ import annotations

from flask import Blueprint, Response

from appliance.api.prometheus import family
from appliance.api.serving_metrics import PREFIX

bp = Blueprint("metrics", __name__)

# (stem, type, help, how to read it from EngineStats)
_ENGINE_FAMILIES = (
    ("num_requests_running", "gauge", "Requests in the running batch.", lambda s: s.running),
    ("num_requests_waiting", "gauge", "Requests waiting to be scheduled.", lambda s: s.waiting),
    ("kv_cache_usage_perc", "gauge", "Fraction of KV-cache blocks in use (1 = full).", lambda s: s.kv_usage),
    ("prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.",
     lambda s: s.cache.queries_tokens),
    ("prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.",
     lambda s: s.cache.hits_tokens),
    ("num_preemptions_total", "counter", "Preemptions of running requests.", lambda s: s.preemptions_total),
)


@bp.get("/metrics")
def metrics() -> Response:
    from appliance.services import current_appliance

    appliance = current_appliance()
    stats = appliance.engine_stats()
    lines: list[str] = []
    for stem, kind, help_text, read in _ENGINE_FAMILIES:
        lines += family(PREFIX + stem, kind, help_text, [({"model_name": m}, read(s)) for m, s in stats.items()])
    lines += family(PREFIX + "ledger_backlog_rows", "gauge", "Usage rows queued but not yet written.",
                    [({}, appliance.ledger_backlog())])
    lines += appliance.metrics.render()
    if appliance.alerts is not None:
        lines += appliance.alerts.metric_lines()
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4; charset=utf-8")
