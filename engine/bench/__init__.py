"""The benchmarks. Each measures one thing against a baseline run on the same machine in the same
run, and prints one report: a machine header, a table or JSON (`--json`), and the ratios.

engine/bench/ (the engine in-process; imports neither appliance/ nor pydantic):
  common.py        what they all share: Machine (the header: arch, CPUs, CPU ISA from
                   engine/cpu_isa.py, threads, torch, device, UTC date), the Report base
                   (to_json, to_table from title, rows and notes), ratio(), percentile() and
                   the config range checks at_least() and positive()
  runner.py        `airlock bench`: a fixed workload (workload.py) through the engine (airlock.py)
    report.py      against transformers generate one at a time, a static padded batch and
    baselines.py   generate_batch (baselines.py); the engine's own fp32 when another precision runs
  quant.py         `airlock bench-quant`: each precision's weights, perplexity and tokens/s
                   against the first precision listed (fp32 on the CPU)
  context.py       `airlock bench-context`: one stream's ITL at 40 to 1,600 tokens of context
                   against the shortest; a suffix's TTFT after a cached prefix against one step
  prefix.py        `airlock bench-cache`: TTFT and chat throughput with the prefix cache on
                   against off
  speculation.py   `airlock bench --speculation`: the same requests with speculation on against off
  sweep.py         `airlock bench sweep`: concurrency x scheduler settings over the chat mix
    chat_mix.py    (chat_mix.py); the Pareto frontier and an SLO's pick (frontier.py), drawn by
    frontier.py    frontier_plot.py; each point against the others of the same run
    frontier_plot.py

appliance/bench/ (the service; uses common.py from here):
  http.py          `airlock bench-http`: streams through the HTTP API against the in-process engine
  slo.py           `airlock bench-slo`: streams through the API with an ITL target against without
  alerts.py        `airlock bench-alerts`: engine throughput with every alert rule on against off
  routing.py       `airlock bench --route auto`: a routed mix against always the largest tier
  ledger.py        `airlock bench-ledger`: batched ledger writes against one commit per row, and
    ledger_engine.py  engine step times with the ledger recording against not
  fleet_budget.py  `airlock fleet bench-budget`: what one budget hold + settle costs on the database
  soak/            `airlock bench soak`: minutes of mixed traffic with a kill -9, judged by bounds

The commands (appliance/cli/bench*.py, _bench*.py) print a report through one helper,
appliance/cli/_bench.py's print_report: table or JSON, an error as one line on stderr, exit 2.

The names below are loaded on first use, so `engine.bench.common` imports without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"BenchOptions": "runner", "run_bench": "runner", "BenchReport": "report", "SystemResult": "report",
            "SCENARIOS": "workload", "Scenario": "workload"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
