"""GET /metrics in Prometheus text format, with vLLM's metric stems under the airlock: prefix."""
from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client.metrics_core import Metric

from appliance.api.prometheus import CONTENT_TYPE, ScrapeCollector, exposition, family
from appliance.api.serving_metrics import PREFIX
from appliance.ledger import dead_letter
from appliance.models.errors import ModelNotLoaded

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
    ("spec_decode_num_drafts_total", "counter", "Speculative verifications that carried draft tokens.",
     lambda s: s.spec_num_drafts),
    ("spec_decode_num_draft_tokens_total", "counter", "Speculative draft tokens verified.",
     lambda s: s.spec_num_draft_tokens),
    ("spec_decode_num_accepted_tokens_total", "counter", "Speculative draft tokens accepted.",
     lambda s: s.spec_num_accepted_tokens),
)


@bp.get("/metrics")
def metrics() -> Response:
    from appliance.services import current_appliance

    appliance = current_appliance()
    return Response(exposition(ScrapeCollector(lambda: _families(appliance))), content_type=CONTENT_TYPE)


def _families(appliance) -> Iterator[Metric]:
    stats = appliance.engine_stats()
    yield family(PREFIX + "node_info", "gauge", "This appliance's node name in a fleet (always 1).",
                 [({"node": appliance.config.node}, 1)])
    for stem, kind, help_text, read in _ENGINE_FAMILIES:
        yield family(PREFIX + stem, kind, help_text, [({"model_name": m}, read(s)) for m, s in stats.items()])
    yield family(PREFIX + "ledger_backlog_rows", "gauge", "Usage rows queued but not yet written.",
                 [({}, appliance.ledger_backlog())])
    yield family(PREFIX + "ledger_dead_letter_rows_total", "counter",
                 "Usage rows written to the dead-letter file instead of the ledger (replay: airlock db "
                 "replay-dead-letter).", [({}, dead_letter.count())])
    yield from _slo_families(appliance)
    yield from appliance.metrics.families()
    if appliance.router is not None:
        from appliance.routing.metrics import families as route_families
        yield from route_families(appliance.router)
    if appliance.alerts is not None:
        yield appliance.alerts.metric_family()


def _slo_families(appliance) -> list[Metric]:
    """Live SLO attainment per model over the last five minutes (engine/slo.py)."""
    views = {}
    for name in appliance.model_names():
        try:
            views[name] = appliance.models.get(name).slo.live()
        except ModelNotLoaded:   # unloaded between the listing and the read
            continue

    def samples(key: str) -> list:
        return [({"model_name": m}, v[key]) for m, v in views.items() if v[key] is not None]
    return [family(PREFIX + "slo_attainment_ratio", "gauge",
                   "Share of requests finished in the last 5 minutes within the TTFT and ITL targets.",
                   samples("attainment")),
            family(PREFIX + "slo_rejected_requests", "gauge",
                   "Requests refused in the last 5 minutes because the queue would break the TTFT target.",
                   samples("rejected")),
            family(PREFIX + "slo_ttft_p95_target_seconds", "gauge", "The TTFT target (absent: none).",
                   samples("ttft_p95_target_s")),
            family(PREFIX + "slo_itl_p95_target_seconds", "gauge", "The inter-token target (absent: none).",
                   samples("itl_p95_target_s"))]
