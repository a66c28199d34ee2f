"""`airlock bench-alerts`: engine throughput at c32 with alert rules off and on, same run."""
from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli._bench import DEFAULT_MODEL, add_quick_and_json, prepare_to_load, print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-alerts", help="benchmark the cost of alert evaluation on throughput")
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4, help="rounds with rules off and as many with them on")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between evaluations while on")
    parser.add_argument("--rows", type=int, default=20000, help="usage rows seeded into the ledger")
    parser.add_argument("--model-file", default=str(DEFAULT_MODEL))
    parser.add_argument("--quantization", default="auto")
    add_quick_and_json(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not prepare_to_load("bench-alerts", Path(args.model_file)):
        return 2
    return print_report("bench-alerts", lambda: _measure(args), args.json)


def _measure(args: argparse.Namespace):
    from pydantic import ValidationError

    from appliance.bench.alerts import AlertBenchConfig
    from appliance.bench.alerts import run as bench
    from appliance.config import config_error

    try:
        config = AlertBenchConfig(streams=args.streams, max_tokens=args.max_tokens, rounds=args.rounds,
                                  interval=args.interval, rows=args.rows, model_file=args.model_file,
                                  quantization=args.quantization)
    except ValidationError as exc:
        raise config_error(exc) from None   # one line naming the setting
    return bench(config)
