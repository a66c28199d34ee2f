"""`airlock doctor`: check the host and the installation; exit 0 when all is well."""
from __future__ import annotations

import argparse

from appliance.cli import add_config_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check GPU, torch, disk, memory, port, database, models, config")
    add_config_argument(parser)
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.doctor.runner import exit_status, render, run_doctor
    results = run_doctor(args.config)
    print(render(results))
    status = exit_status(results, args.strict)
    failed = sum(r.status.value == "fail" for r in results)
    warned = sum(r.status.value == "warn" for r in results)
    verdict = "problems found" if status else "usable, with warnings" if warned else "all is well"
    print(f"\n{verdict}: {len(results) - failed - warned} ok, {warned} warn, {failed} fail")
    return status
