"""`airlock audit list|export|verify`: the hash-chained log of administrative changes."""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from appliance.cli import add_config_argument

COLUMNS = ("id", "at", "actor", "action", "target", "before", "after", "prev_hash", "hash")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="list, export and verify the audit log of admin changes")
    commands = parser.add_subparsers(dest="audit_command", required=True)
    listing = commands.add_parser("list", help="the newest changes")
    listing.add_argument("-n", type=int, default=50, help="how many (default 50)")
    listing.add_argument("--action", help="only this action (key.create, model.load, ...)")
    listing.add_argument("--json", action="store_true")
    export = commands.add_parser("export", help="every row with its hashes, as CSV or JSON")
    export.add_argument("--format", choices=("csv", "json"), default="json")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    commands.add_parser("verify", help="check the hash chain; names the first row that breaks it")
    for sub in commands.choices.values():
        add_config_argument(sub)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from appliance.audit import AuditLog
    from appliance.config import ConfigError, load_config
    from appliance.ledger.database import SchemaError, make_engine, upgrade

    try:
        db = make_engine(load_config(args.config).database_url)
        upgrade(db)
        return COMMANDS[args.audit_command](AuditLog(db), args)
    except (ConfigError, SchemaError, SQLAlchemyError, OSError) as exc:
        print(f"airlock audit: {exc}", file=sys.stderr)
        return 2


def _list(log, args: argparse.Namespace) -> int:
    entries = [e.to_dict() for e in log.entries(limit=args.n, action=args.action)]
    if args.json:
        print(json.dumps(entries, indent=1))
        return 0
    for e in entries:
        print(f"{e['id']:>6}  {e['at'][:19]}  {e['actor'][:36]:36}  {e['action']:14}  {e['target'][:24]:24}  "
              f"{_change(e['before'], e['after'])}")
    return 0


def _change(before: object, after: object) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        changed = {k: after.get(k) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
        return json.dumps(changed)[:80]
    return json.dumps(after if after is not None else before)[:80]


def _export(log, args: argparse.Namespace) -> int:
    entries = [e.to_dict() for e in log.entries()]
    if args.format == "json":
        text = json.dumps(entries, indent=1) + "\n"
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        writer.writerows({**e, "before": json.dumps(e["before"]), "after": json.dumps(e["after"])} for e in entries)
        text = out.getvalue()
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {len(entries)} rows to {args.output}")
    else:
        print(text, end="")
    return 0


def _verify(log, args: argparse.Namespace) -> int:
    checked, broken = log.verify()
    if broken is None:
        print(f"audit log intact: {checked} rows, every hash and link matches")
        return 0
    print(f"audit log BROKEN at row {broken.row_id}: {broken.reason}", file=sys.stderr)
    return 1


COMMANDS = {"list": _list, "export": _export, "verify": _verify}
