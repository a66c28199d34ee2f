"""`airlock bench-alerts`: engine throughput at c32 with alert rules off and on, same run."""
from __future__ import annotations

import argparse
import sys

from appliance.cli._bench import DEFAULT_MODEL, prepare_to_load


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-alerts", help="benchmark the cost of alert evaluation on throughput")
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="rounds with rules off and as many with them on")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between evaluations while on")
    parser.add_argument("--rows", type=int, default=20000, help="usage rows seeded into the ledger")
    parser.add_argument("--model-file", default=str(DEFAULT_MODEL))
    parser.add_argument("--quantization", default="auto")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from appliance.bench.alerts import AlertBenchConfig, table
    from appliance.bench.alerts import run as bench

    try:
        config = AlertBenchConfig(args.streams, args.max_tokens, args.rounds, args.interval, rows=args.rows,
                                  model_file=args.model_file, quantization=args.quantization)
    except ValueError as exc:
        print(f"airlock bench-alerts: {exc}", file=sys.stderr)
        return 2
    if not prepare_to_load("bench-alerts", Path(config.model_file)):
        return 2
    print(table(bench(config)))
    return 0
