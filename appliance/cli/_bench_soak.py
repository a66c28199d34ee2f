"""`airlock bench soak`: a real `airlock serve` on a loopback port under a mixed, partly hostile
load for --minutes, with a kill -9 and a restart part way; prints the checks (or JSON) and
exits 1 if any failed (appliance/soak)."""
from __future__ import annotations

import argparse
import sys

from appliance.cli._bench import add_model_argument, prepare_to_load


def register_under(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("soak", help="minutes of mixed traffic, kill -9 and restart; ledger, budget, "
                                             "KV, RSS and /health checks")
    add_model_argument(parser)
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of traffic (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 minute, RSS baseline 20 s after the restart")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.bench.soak import SoakConfig, run_soak

    if not prepare_to_load("bench soak", args.model):
        return 2
    try:
        config = SoakConfig(args.model, **({"minutes": 1.0, "rss_baseline_s": 20.0} if args.quick
                                           else {"minutes": args.minutes}))
        report = run_soak(config, progress=lambda line: print(f"airlock bench soak: {line}", file=sys.stderr))
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"airlock bench soak: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.to_table())
    return 0 if report.ok else 1
