"""`airlock bench soak`: a real server under a mixed, partly hostile load for minutes, with a
kill -9 and a restart part way, judged on the ledger, the budgets, the KV cache, memory,
/health latency and the status codes (runner.py for the timeline, checks.py for the bounds)."""
from appliance.bench.soak.report import SoakReport
from appliance.bench.soak.runner import SoakConfig, run_soak

__all__ = ["SoakConfig", "SoakReport", "run_soak"]
