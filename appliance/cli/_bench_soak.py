"""`airlock bench soak`: a real `airlock serve` on a loopback port under a mixed, partly hostile
load for --minutes, with a kill -9 and a restart part way; prints the checks (or JSON) and
exits 1 if any failed (appliance/soak)."""
from __future__ import annotations

import argparse

from appliance.cli._bench import add_model_argument, add_quick_and_json, prepare_to_load, print_report, progress


def register_under(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("soak", help="minutes of mixed traffic, kill -9 and restart; ledger, budget, "
                                             "KV, RSS and /health checks")
    add_model_argument(parser)
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of traffic (default 5)")
    add_quick_and_json(parser, quick_help="1 minute, RSS baseline 20 s after the restart")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not prepare_to_load("bench soak", args.model):
        return 2
    return print_report("bench soak", lambda: _measure(args), args.json, errors=(RuntimeError,))


def _measure(args: argparse.Namespace):
    from appliance.bench.soak import SoakConfig, run_soak

    config = SoakConfig(args.model, **({"minutes": 1.0, "rss_baseline_s": 20.0} if args.quick
                                       else {"minutes": args.minutes}))
    return run_soak(config, progress=progress("bench soak"))
