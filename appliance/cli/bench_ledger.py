"""`airlock bench-ledger`: ledger write throughput and engine step times with the ledger on/off."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from appliance.cli._bench import DEFAULT_MODEL
from appliance.bench.ledger import BenchSettings, run, summary


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
    model = None if args.model == "none" else args.model
    if model and not Path(model).exists():
        print(f"airlock bench-ledger: model file {model} not found (use --model PATH or --model none)")
        return 2
    try:
        settings = BenchSettings(rows=args.rows, producers=args.producers, baseline_rows=args.baseline_rows,
                                 model_path=model,
                                 requests=args.requests, max_tokens=args.max_tokens, rounds=args.rounds)
    except ValueError as exc:
        print(f"airlock bench-ledger: {exc}")
        return 2
    result = run(settings)
    print(summary(result), end="")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0
