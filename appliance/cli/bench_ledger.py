"""`airlock bench-ledger`: ledger write throughput and engine step times with the ledger on/off."""
from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli._bench import DEFAULT_MODEL, fail, print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-ledger", help="benchmark the usage ledger (rows/s, engine step times)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--baseline-rows", type=int, default=3_000, help="rows for the one-commit-per-row baseline")
    parser.add_argument("--model", default=str(DEFAULT_MODEL),
                        help="SmolLM2 GGUF for the engine comparison; 'none' skips it")
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", help="also write the JSON result to this file")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from appliance.bench.ledger import BenchSettings, run

    model = None if args.model == "none" else args.model
    if model and not Path(model).exists():
        return fail("bench-ledger", f"model file {model} not found (use --model PATH or --model none)")
    return print_report("bench-ledger", lambda: run(BenchSettings(
        rows=args.rows, producers=args.producers, baseline_rows=args.baseline_rows, model_path=model,
        requests=args.requests, max_tokens=args.max_tokens, rounds=args.rounds)), save_json=args.json)
