"""`airlock bench`: size the hardware. A fixed workload through the engine in-process and, in
the same run, through transformers baselines; prints a table (or JSON with --json)."""
from __future__ import annotations

import argparse

from appliance.cli import _bench_soak, _bench_sweep, add_config_argument
from appliance.cli._bench import (add_model_argument, add_quick_and_json, fail, prepare_to_load, print_report,
                                  progress, quiet_transformers)

SCENARIO_NAMES = ("single", "c32", "c128", "prefill")
BASELINE_NAMES = ("sequential", "static", "continuous")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmark the engine against transformers baselines")
    add_model_argument(parser)
    parser.add_argument("--scenario", choices=SCENARIO_NAMES, default="c32",
                        help="single: 1 x 128 tokens; c32/c128: concurrent x 128 tokens; prefill: 1,300-token prompt")
    parser.add_argument("--quantization", choices=("fp32", "bf16", "int8"), default=None,
                        help="the engine's precision (default fp32 on CPU); bf16 (AMX) or int8 also runs the "
                             "engine in fp32 for comparison")
    parser.add_argument("--baselines", default=",".join(BASELINE_NAMES),
                        help="comma-separated subset of " + ", ".join(BASELINE_NAMES) + " (empty: none)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--route", help="instead: a mixed workload through this route (auto) against always the "
                        "largest tier, same run (SmolLM2 int8 and Gemma 3 tiers)")
    parser.add_argument("--speculation", choices=("ngram", "self", "draft"), default=None,
                        help="instead: the same requests with this speculation off and on (grounded, chat, c32); "
                             "self drafts with the model's int8 copy")
    parser.add_argument("--k", type=int, default=4, help="with --speculation: draft tokens per step")
    parser.add_argument("--draft-model", default="", help="with --speculation draft: the draft model's file")
    parser.add_argument("--repeats", type=int, default=1,
                        help="engine runs per precision (with --speculation: off/on pairs per scenario), "
                             "alternated; the median is reported")
    add_quick_and_json(parser, quick_help="a few requests of a few tokens (for tests)")
    add_config_argument(parser)
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="bench_action", metavar="{sweep,soak}")
    _bench_sweep.register_under(actions)
    _bench_soak.register_under(actions)


def run(args: argparse.Namespace) -> int:
    if args.route and args.route != "auto":
        return fail("bench", "--route takes auto (the route the benchmark defines)")
    if not prepare_to_load("bench", args.model):
        return 2
    quiet_transformers()
    measure = _route_bench if args.route else _speculation_bench if args.speculation else _engine_bench
    return print_report("bench", lambda: measure(args), args.json)


def _engine_bench(args: argparse.Namespace):
    from engine.bench import BenchOptions, run_bench

    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    options = BenchOptions(args.model, args.scenario, args.quantization, args.quick, args.device, baselines,
                           args.repeats)
    return run_bench(options, progress=progress("bench"))


def _speculation_bench(args: argparse.Namespace):
    from engine.bench.speculation import run_speculation_bench
    from engine.loader import load_model

    model = load_model(args.model, device=args.device)
    return run_speculation_bench(model, args.speculation, k=args.k, quick=args.quick, draft_model=args.draft_model,
                                 repeats=args.repeats)


def _route_bench(args: argparse.Namespace):
    from appliance.bench.routing import RouteBenchConfig, run_route_bench

    models = args.model.parent
    config = RouteBenchConfig(smollm2_file=str(args.model), gemma3_file=str(models / "gemma-3-270m-q4_k_m.gguf"),
                              **({"requests": 4, "short_tokens": 2, "long_tokens": 4} if args.quick else {}))
    return run_route_bench(config, progress=progress("bench"))
