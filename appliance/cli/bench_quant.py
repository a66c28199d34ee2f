"""`airlock bench-quant`: full precision against int8 (and nf4 on CUDA) in the same run."""
from __future__ import annotations

import argparse
import os
import sys

from appliance.cli import add_config_argument
from appliance.cli._bench import add_model_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-quant", help="benchmark quantized weights against full precision")
    add_model_argument(parser)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated, baseline first (default: fp32,int8 on CPU; fp16,int8,nf4 on CUDA)")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers.utils import logging

    from engine.bench.quant import QuantBenchOptions, run_quant_bench
    from engine.errors import EngineError

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    default = "fp16,int8,nf4" if args.device.startswith("cuda") else "fp32,int8"
    try:
        options = QuantBenchOptions(args.model, args.device, tuple((args.precisions or default).split(",")),
                                    args.max_tokens, args.concurrency)
        report = run_quant_bench(options, progress=lambda line: print(f"airlock bench-quant: {line}", file=sys.stderr))
    except (ValueError, EngineError) as exc:
        print(f"airlock bench-quant: {exc}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else f"{report.to_table()}\n{report.to_json()}")
    return 0
