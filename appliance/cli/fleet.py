"""`airlock fleet haproxy-config` (the HAProxy configuration in front of several appliances) and
`airlock fleet bench-budget` (what a budget hold costs on the configured database)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli import add_config_argument
from appliance.cli._bench import add_quick_and_json, print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fleet", help="several appliances on one database behind HAProxy")
    commands = parser.add_subparsers(dest="fleet_command", required=True)
    config = commands.add_parser("haproxy-config", help="write the HAProxy configuration for the listed nodes")
    config.add_argument("--node", action="append", default=[], metavar="NAME=HOST:PORT", required=True,
                        help="a node: its [server] node name and API address; once per node")
    config.add_argument("--bind", default="127.0.0.1:8400", help="where clients connect (default: %(default)s)")
    config.add_argument("--hash-header", default="Authorization",
                        help="the header a tenant is hashed on (default: the API key)")
    config.add_argument("--stream-timeout", type=int, default=600,
                        help="seconds a stream may pause, and a request may take (default: %(default)s)")
    config.add_argument("--check-interval-ms", type=int, default=1000, help="health check interval")
    config.add_argument("--output", "-o", help="file to write (default: stdout)")
    bench = commands.add_parser("bench-budget", help="what one budget hold + settle costs on the database")
    add_config_argument(bench)
    bench.add_argument("--pairs", type=int, default=500)
    add_quick_and_json(bench)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return bench_budget(args) if args.fleet_command == "bench-budget" else haproxy_config(args)


def bench_budget(args: argparse.Namespace) -> int:
    from appliance.config import ConfigError

    return print_report("fleet bench-budget", lambda: _hold_cost(args), args.json, errors=(ConfigError,))


def _hold_cost(args: argparse.Namespace):
    from appliance.bench.fleet_budget import hold_cost
    from appliance.config import load_config
    from appliance.ledger.database import make_engine, upgrade

    db = make_engine(load_config(args.config).database_url)
    upgrade(db)
    return hold_cost(db, args.pairs)


def haproxy_config(args: argparse.Namespace) -> int:
    from appliance.fleet.haproxy import FrontSettings, render
    from appliance.fleet.node import Node, NodeError

    try:
        nodes = [Node.parse(text) for text in args.node]
        text = render(nodes, FrontSettings(bind=args.bind, hash_header=args.hash_header,
                                           stream_timeout_s=args.stream_timeout,
                                           check_interval_ms=args.check_interval_ms))
    except NodeError as exc:
        print(f"airlock fleet: {exc}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
