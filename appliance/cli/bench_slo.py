"""`airlock bench-slo`: concurrent streams through the API without and with an ITL target (same run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli import add_config_argument
from appliance.cli._bench import DEFAULT_MODEL


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-slo", help="benchmark SLO-aware admission: p95 ITL with and without a target")
    add_config_argument(parser)
    parser.add_argument("--streams", type=int, default=128)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--slo-itl-p95", default="150ms", help="the ITL target of the second phase")
    parser.add_argument("--slo-ttft-p95", help="also a TTFT target (streams that would wait past it get 503)")
    parser.add_argument("--model-file", default=str(DEFAULT_MODEL))
    parser.add_argument("--quantization", default="auto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.bench.slo import SloBenchConfig, report, to_json
    from appliance.bench.slo import run as bench
    from engine.slo import InvalidSlo, parse_seconds

    try:
        config = SloBenchConfig(args.streams, args.max_tokens, parse_seconds(args.slo_itl_p95, "--slo-itl-p95"),
                                parse_seconds(args.slo_ttft_p95, "--slo-ttft-p95") if args.slo_ttft_p95 else None,
                                args.model_file, args.quantization)
    except (InvalidSlo, ValueError) as exc:
        print(f"airlock bench-slo: {exc}", file=sys.stderr)
        return 2
    phases = bench(config)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile") if f" {f}" in flags]
    print(to_json(config, phases) if args.json else report(config, phases, isa))
    return 0
