"""`airlock bench-llamacpp`: the engine and llama.cpp on one stream, same GGUF file, same run."""
from __future__ import annotations

import argparse
import importlib.util

from appliance.cli._bench import add_model_argument, add_quick_and_json, fail, prepare_to_load, print_report

PRECISIONS = ("fp32", "bf16", "int8")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-llamacpp", help="one stream against llama.cpp (llama-cpp-python) on the "
                                                          "same GGUF file")
    add_model_argument(parser)
    parser.add_argument("--precisions", default="fp32,bf16,int8", help="Airlock's precisions, comma-separated")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--llama-batch", type=int, default=512,
                        help="llama.cpp's prompt batch (n_batch); 1 where its batched prompt path fails on a CPU")
    add_quick_and_json(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if not precisions or any(p not in PRECISIONS for p in precisions):
        return fail("bench-llamacpp", f"precisions must be among {', '.join(PRECISIONS)}")
    if importlib.util.find_spec("llama_cpp") is None:
        return fail("bench-llamacpp", "llama.cpp's Python binding is not installed: pip install llama-cpp-python "
                                      "(a benchmark-only dependency; it builds llama.cpp for this CPU)")
    if args.model.suffix.lower() != ".gguf":
        return fail("bench-llamacpp", f"{args.model} is not a GGUF file, which llama.cpp needs")
    if not prepare_to_load("bench-llamacpp", args.model):
        return 2
    from engine.bench.llamacpp import run_llamacpp_bench

    return print_report("bench-llamacpp", lambda: run_llamacpp_bench(args.model, precisions, args.max_tokens,
                                                                             args.llama_batch),
                        args.json)
