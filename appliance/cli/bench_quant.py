"""`airlock bench-quant`: full precision against int8 (and nf4 on CUDA) in the same run."""
from __future__ import annotations

import argparse
import os

from appliance.cli import add_config_argument
from appliance.cli._bench import add_model_argument, add_quick_and_json, print_report, progress, quiet_transformers


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-quant", help="benchmark quantized weights against full precision")
    add_model_argument(parser)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated, baseline first (default: fp32,int8 on CPU; fp16,int8,nf4 on CUDA)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=32)
    add_quick_and_json(parser)
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet_transformers()
    return print_report("bench-quant", lambda: _measure(args), args.json)


def _measure(args: argparse.Namespace):
    from engine.bench.quant import QuantBenchOptions, run_quant_bench

    default = "fp16,int8,nf4" if args.device.startswith("cuda") else "fp32,int8"
    options = QuantBenchOptions(args.model, args.device, tuple((args.precisions or default).split(",")),
                                args.max_tokens, args.concurrency)
    return run_quant_bench(options, progress=progress("bench-quant"))
