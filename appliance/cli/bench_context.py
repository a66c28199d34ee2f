"""`airlock bench-context`: decode cost against context length, per precision and KV dtype, same run."""
from __future__ import annotations

import argparse

from appliance.cli._bench import (add_model_argument, add_quick_and_json, fail, prepare_to_load, print_report,
                                  progress)
from engine.config import KV_DTYPES

PRECISIONS = ("fp32", "bf16", "int8")
KV_CHOICES = ("auto", *KV_DTYPES)   # auto: what the appliance gives each precision


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench-context", help="inter-token latency against context length (40-1,600)")
    add_model_argument(parser)
    parser.add_argument("--precisions", default="fp32,bf16,int8", help="comma-separated: fp32, bf16, int8")
    parser.add_argument("--kv-dtypes", default="auto",
                        help="comma-separated: auto, fp32, fp16, bf16, int8; each precision runs with each")
    parser.add_argument("--streams", type=int, default=1, help="streams decoding together (default 1)")
    add_quick_and_json(parser, quick_help="contexts of 40 and 200 tokens only, few tokens (for tests)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    precisions, kv_dtypes = _listed(args.precisions), _listed(args.kv_dtypes)
    if not precisions or any(p not in PRECISIONS for p in precisions):
        return fail("bench-context", f"precisions must be among {', '.join(PRECISIONS)}")
    if not kv_dtypes or any(k not in KV_CHOICES for k in kv_dtypes):
        return fail("bench-context", f"kv dtypes must be among {', '.join(KV_CHOICES)}")
    if not 1 <= args.streams <= 128:
        return fail("bench-context", f"streams must be 1 to 128, got {args.streams}")
    if not prepare_to_load("bench-context", args.model):
        return 2
    return print_report("bench-context", lambda: _measure(args, precisions, kv_dtypes), args.json)


def _listed(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _measure(args: argparse.Namespace, precisions: list[str], kv_dtypes: list[str]):
    import torch

    from engine.bench.airlock import kv_dtype_for
    from engine.bench.context import report, run_context_bench
    from engine.loader import load_hf, wrap

    hf_model, tokenizer = load_hf(args.model, torch.float32)
    result, say = report(args.model.name, args.streams), progress("bench-context")
    for precision in precisions:
        say(precision)
        model = wrap(hf_model, tokenizer, args.model, device=torch.device("cpu"), precision=precision)
        contexts = (40, 200) if args.quick else (40, 400, 800, 1600)
        for kv_dtype in dict.fromkeys(kv_dtype_for(model) if k == "auto" else k for k in kv_dtypes):
            result.results.append(run_context_bench(model, precision, contexts, 6 if args.quick else 24, kv_dtype,
                                                    args.streams))
        del model
    return result
