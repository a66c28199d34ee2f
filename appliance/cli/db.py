"""`airlock db upgrade|downgrade|current|replay-dead-letter`: the ledger database schema, and
the usage rows that could not be written (kept in the dead-letter file) put back."""
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
    replay = actions.add_parser("replay-dead-letter",
                                help="write the usage rows kept in the dead-letter file into the ledger")
    replay.add_argument("--file", help="the dead-letter file (default: <data_dir>/ledger_dead_letter.jsonl)")
    for sub in (up, down, current, replay):
        add_config_argument(sub)
        sub.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if args.db_command == "replay-dead-letter":
            return _replay(config, args)
        engine = database.make_engine(config.database_url)
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


def _replay(config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from appliance.ledger import dead_letter
    from appliance.ledger.dead_letter_replay import replay
    from appliance.ledger.ledger import Ledger

    source = Path(args.file) if args.file else Path(config.data_dir) / dead_letter.FILE_NAME
    dead_letter.use(source)
    ledger = Ledger.open(config.database_url, tco=config.tco, host_watts=config.ledger.host_watts,
                         node=config.node)
    try:
        result = replay(ledger, source)
    finally:
        ledger.close(timeout=60)
    print(f"replayed {result.written} row(s) from {source}; {result.already_in_ledger} already in the ledger; "
          f"{result.kept} kept (still not writable)")
    return 1 if result.kept else 0


ACTIONS = {"upgrade": _upgrade, "downgrade": _downgrade, "current": _current}
