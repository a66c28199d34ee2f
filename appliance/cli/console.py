"""`airlock console`: the admin console, attached to the running service over loopback."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from appliance.cli import add_config_argument
from appliance.config import Config, ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("console", help="open the admin console (a terminal UI)")
    add_config_argument(parser)
    parser.add_argument("--url", help="admin API address (default: the config's server host and port)")
    parser.add_argument("--admin-token", help="admin credential; visible to other users in the process list, "
                                              "prefer --token-file or $AIRLOCK_ADMIN_TOKEN")
    parser.add_argument("--token-file", type=Path,
                        help="read the admin credential from this file (default: $AIRLOCK_ADMIN_TOKEN, "
                             "then server.admin_token, then <data_dir>/admin_token)")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between refreshes (default 2)")
    parser.set_defaults(func=run)


def default_url(config: Config) -> str:
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.server.port}"


def default_token(config: Config) -> str:
    if config.server.admin_token:
        return config.server.admin_token
    path = Path(config.data_dir) / "admin_token"
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def resolve_token(args: argparse.Namespace, config: Config, env: dict[str, str] | None = None) -> str:
    """--admin-token, else --token-file, else $AIRLOCK_ADMIN_TOKEN, else the config's token."""
    env = os.environ if env is None else env
    if args.admin_token:
        return args.admin_token
    if args.token_file is not None:
        return args.token_file.read_text().strip()   # OSError: reported by run()
    return env.get("AIRLOCK_ADMIN_TOKEN", "").strip() or default_token(config)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"airlock console: {exc}")
        return 2
    if args.poll <= 0:
        print(f"airlock console: --poll must be positive, got {args.poll}")
        return 2
    try:
        token = resolve_token(args, config)
    except OSError as exc:
        print(f"airlock console: cannot read --token-file: {exc}")
        return 2
    if not token:
        print("airlock console: no admin token: pass --token-file, set AIRLOCK_ADMIN_TOKEN or server.admin_token, "
              f"or start the service once so it writes {Path(config.data_dir) / 'admin_token'}")
        return 2
    from tui.app import create_app
    from tui.client import AdminClient
    try:
        client = AdminClient(args.url or default_url(config), token)
    except ValueError as exc:
        print(f"airlock console: {exc}")
        return 2
    create_app(client, poll_seconds=args.poll).run()
    return 0
