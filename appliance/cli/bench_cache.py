"""`airlock bench-cache`: prefix caching on versus off in the same run."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from appliance.cli import add_config_argument

DEFAULT_MODEL = Path("var/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-cache", help="benchmark prefix caching on versus off")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"GGUF file (default {DEFAULT_MODEL})")
    parser.add_argument("--prefix-tokens", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=32, help="chat requests sharing the system prompt")
    parser.add_argument("--system-tokens", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="a small workload (for tests)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.model.exists():
        print(f"airlock bench-cache: model file {args.model} does not exist", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    from engine.bench.prefix import run_prefix_bench
    from engine.loader import load_model

    model = load_model(args.model)
    if args.quick:
        result = run_prefix_bench(model, prefix_tokens=200, chat_requests=4, system_tokens=100,
                                  max_tokens=4, repeats=1)
    else:
        result = run_prefix_bench(model, args.prefix_tokens, args.requests, args.system_tokens)
    print(result.to_json() if args.json else result.to_table())
    return 0
