"""`airlock kernels`: compile Airlock's CPU kernels for this machine's CPU level (or find them cached)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("kernels", help="compile the CPU kernels for this machine (install does it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.cpu_isa import cpu_isa
    from engine.kernels import cpu_kernels
    if cpu_kernels() is None:
        print("CPU kernels unavailable: the engine uses its torch path (see the warning above)")
        return 1
    print(f"CPU kernels ready for CPU level {cpu_isa().describe()}")
    return 0
