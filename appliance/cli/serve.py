"""`airlock serve`: the API server with the default model, until SIGTERM."""
from __future__ import annotations

import argparse
import logging
import sys

from appliance.cli import add_config_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve the OpenAI-compatible and admin API")
    add_config_argument(parser)
    parser.add_argument("--host", help="address to bind (default: server.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: server.port, 8420)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.auth.admin import AuthSettingError, admin_token
    from appliance.auth.token_strength import check_admin_token
    from appliance.config import ConfigError, load_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    flags = {"host": args.host or None, "port": args.port}
    try:
        config = load_config(args.config, flags={"server": {k: v for k, v in flags.items() if v is not None}})
        check_admin_token(admin_token(config))
    except (ConfigError, AuthSettingError, OSError) as exc:
        print(f"airlock serve: {exc}", file=sys.stderr)
        return 2
    return _serve(config)


def _serve(config) -> int:
    from appliance.models.errors import StoreError
    from appliance.server import Server
    from appliance.services import Appliance

    try:
        appliance = Appliance.from_config(config)
    except (OSError, ValueError, StoreError) as exc:
        print(f"airlock serve: cannot start: {exc}", file=sys.stderr)
        return 1
    server = Server(appliance)
    _report_to_fleet(appliance, server.url)
    token_file = "server.admin_token" if config.server.admin_token else f"{config.data_dir}/admin_token"
    print(f"airlock: serving {', '.join(appliance.model_names()) or 'no model'} on {server.url} "
          f"(auth {'on' if config.server.auth else 'off'}; admin credential in {token_file})", flush=True)
    server.run()
    _exit_now(0)
    return 0


def _report_to_fleet(appliance, address: str) -> None:
    """Heartbeat into `fleet_nodes`, so /admin/fleet on any node lists this one."""
    from appliance.fleet.registry import NodeRegistry, Report

    def report() -> Report:
        stats = appliance.engine_stats().values()
        return Report(address, appliance.draining, sum(s.running for s in stats), sum(s.waiting for s in stats),
                      appliance.model_names())
    if appliance.ledger is not None:
        NodeRegistry(appliance.ledger.engine, appliance.config.node, report).start()


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: the engines are stopped and the ledger closed
    (or dead-lettered) by now, and a worker thread still stuck in a view must not hold the
    stop until systemd's SIGKILL."""
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
