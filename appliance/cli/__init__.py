"""The `airlock` command. Each module in this package adds one subcommand through
`register(subparsers)`, and the parser it adds sets `func` to the function that runs it."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airlock", description="Airlock on-prem LLM appliance")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{__name__}.{module}").register(subparsers)
    return parser


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Every subcommand takes --config; call this on its parser."""
    parser.add_argument("--config", help="TOML config file (default: $AIRLOCK_CONFIG)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
