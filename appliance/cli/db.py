"""`airlock db upgrade|downgrade|current`: the ledger database schema."""
from __future__ import annotations

import argparse
import sys

from appliance.cli import add_config_argument
from appliance.config import ConfigError, load_config
from appliance.ledger import database


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("db", help="ledger database schema (Alembic migrations)")
    actions = parser.add_subparsers(dest="db_command", required=True)
    up = actions.add_parser("upgrade", help="upgrade the schema (a SQLite file is copied aside first)")
    up.add_argument("revision", nargs="?", default="head")
    down = actions.add_parser("downgrade", help="downgrade the schema")
    down.add_argument("revision", nargs="?", default="-1", help="target revision, 'base' or -N (default -1)")
    current = actions.add_parser("current", help="print the schema revision and the newest known one")
    for sub in (up, down, current):
        add_config_argument(sub)
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        url = load_config(args.config).database_url
        engine = database.make_engine(url)
        return ACTIONS[args.db_command](engine, args)
    except ConfigError as exc:
        print(f"airlock db: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an unknown revision, an unreachable database: one clear line
        print(f"airlock db {args.db_command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _upgrade(engine, args: argparse.Namespace) -> int:
    copy = database.upgrade(engine, args.revision)
    if copy:
        print(f"copied the database aside to {copy}")
    print(f"schema at {database.current_revision(engine)}")
    return 0


def _downgrade(engine, args: argparse.Namespace) -> int:
    database.downgrade(engine, args.revision)
    print(f"schema at {database.current_revision(engine) or 'base'}")
    return 0


def _current(engine, args: argparse.Namespace) -> int:
    print(f"current: {database.current_revision(engine) or 'base'}  head: {database.head_revision()}")
    return 0


ACTIONS = {"upgrade": _upgrade, "downgrade": _downgrade, "current": _current}
