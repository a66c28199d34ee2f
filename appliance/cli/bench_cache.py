"""`airlock bench-cache`: prefix caching on versus off in the same run."""
from __future__ import annotations

import argparse

from appliance.cli import add_config_argument
from appliance.cli._bench import add_model_argument, add_quick_and_json, prepare_to_load, print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-cache", help="benchmark prefix caching on versus off")
    add_model_argument(parser)
    parser.add_argument("--prefix-tokens", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=32, help="chat requests sharing the system prompt")
    parser.add_argument("--system-tokens", type=int, default=500)
    add_quick_and_json(parser, quick_help="a small workload (for tests)")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not prepare_to_load("bench-cache", args.model):
        return 2
    return print_report("bench-cache", lambda: _measure(args), args.json)


def _measure(args: argparse.Namespace):
    from engine.bench.prefix import run_prefix_bench
    from engine.loader import load_model

    model = load_model(args.model)
    if args.quick:
        return run_prefix_bench(model, prefix_tokens=200, chat_requests=4, system_tokens=100, max_tokens=4, repeats=1)
    return run_prefix_bench(model, args.prefix_tokens, args.requests, args.system_tokens)
