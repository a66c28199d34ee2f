"""`airlock bench-slo`: concurrent streams through the API without and with an ITL target (same run)."""
from __future__ import annotations

import argparse

from appliance.cli import add_config_argument
from appliance.cli._bench import DEFAULT_MODEL, add_quick_and_json, print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-slo", help="benchmark SLO-aware admission: p95 ITL with and without a target")
    add_config_argument(parser)
    parser.add_argument("--streams", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--slo-itl-p95", default="150ms", help="the ITL target of the second phase")
    parser.add_argument("--slo-ttft-p95", help="also a TTFT target (streams that would wait past it get 503)")
    parser.add_argument("--model-file", default=str(DEFAULT_MODEL))
    parser.add_argument("--quantization", default="auto")
    add_quick_and_json(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return print_report("bench-slo", lambda: _measure(args), args.json)     # an InvalidSlo is a ValueError


def _measure(args: argparse.Namespace):
    from appliance.bench.slo import SloBenchConfig
    from appliance.bench.slo import run as bench
    from engine.slo import parse_seconds

    config = SloBenchConfig(args.streams, args.max_tokens, parse_seconds(args.slo_itl_p95, "--slo-itl-p95"),
                            parse_seconds(args.slo_ttft_p95, "--slo-ttft-p95") if args.slo_ttft_p95 else None,
                            args.model_file, args.quantization)
    return bench(config)
