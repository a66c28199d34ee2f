"""`airlock bench-context`: one stream's decode cost against context length, per precision, same run."""
from __future__ import annotations

import argparse

from appliance.cli._bench import (add_model_argument, add_quick_and_json, fail, prepare_to_load, print_report,
                                  progress)

PRECISIONS = ("fp32", "bf16", "int8")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-context", help="inter-token latency against context length (40-1,600)")
    add_model_argument(parser)
    parser.add_argument("--precisions", default="fp32,bf16,int8", help="comma-separated: fp32, bf16, int8")
    add_quick_and_json(parser, quick_help="contexts of 40 and 200 tokens only, few tokens (for tests)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        return fail("bench-context", f"precisions must be among {', '.join(PRECISIONS)}")
    if not prepare_to_load("bench-context", args.model):
        return 2
    return print_report("bench-context", lambda: _measure(args, precisions), args.json)


def _measure(args: argparse.Namespace, precisions: list[str]):
    import torch

    from engine.bench.context import report, run_context_bench
    from engine.loader import load_hf, wrap

    hf_model, tokenizer = load_hf(args.model, torch.float32)
    result, say = report(args.model.name), progress("bench-context")
    for precision in precisions:
        say(precision)
        model = wrap(hf_model, tokenizer, args.model, device=torch.device("cpu"), precision=precision)
        contexts = (40, 200) if args.quick else (40, 400, 800, 1600)
        result.results.append(run_context_bench(model, precision, contexts, 6 if args.quick else 24))
        del model
    return result
