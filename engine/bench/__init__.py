"""`airlock bench`: a fixed workload through the Airlock engine and, in the same run, through
transformers baselines; the report gives throughput, TTFT and inter-token latency, and ratios."""
from engine.bench.report import BenchReport, SystemResult
from engine.bench.runner import BenchOptions, run_bench
from engine.bench.workload import SCENARIOS, Scenario

__all__ = ["BenchOptions", "BenchReport", "SCENARIOS", "Scenario", "SystemResult", "run_bench"]
