"""`airlock bench-http`: API streams vs the in-process engine, and the HTTP overhead p50."""
from __future__ import annotations

import argparse

from appliance.cli import add_config_argument
from appliance.cli._bench import DEFAULT_MODEL, add_quick_and_json, print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-http", help="benchmark the HTTP layer against the in-process engine")
    add_config_argument(parser)
    parser.add_argument("--streams", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=30, help="paired 1-token requests for the overhead p50")
    parser.add_argument("--model-file", default=str(DEFAULT_MODEL))
    parser.add_argument("--quantization", default="auto")
    parser.add_argument("--more-streams", type=int, default=0,
                        help="also drive the API at this concurrency in the same run (e.g. 128)")
    add_quick_and_json(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.bench.http import BenchConfig
    from appliance.bench.http import run as bench

    return print_report("bench-http", lambda: bench(BenchConfig(args.streams, args.max_tokens, args.pairs,
                                                                args.model_file, args.quantization,
                                                                args.more_streams)), args.json)
