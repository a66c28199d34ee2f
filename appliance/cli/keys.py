"""`airlock keys create|list|revoke`: API keys, straight on the ledger database."""
from __future__ import annotations

import argparse
import json
import sys

from appliance.cli import add_config_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="create, list and revoke API keys")
    commands = parser.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser("create", help="create a key; its secret is printed once")
    create.add_argument("name")
    create.add_argument("--tenant", default=None,
                        help="share prefix and response caches with the keys of this tenant (default: none)")
    create.add_argument("--models", default="", help="comma-separated allowed models (default: all)")
    create.add_argument("--rpm", type=int, default=0, help="requests per minute (0: unlimited)")
    create.add_argument("--tpm", type=int, default=0, help="tokens per minute (0: unlimited)")
    create.add_argument("--budget", type=int, default=0, help="token budget (0: unlimited)")
    listing = commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    for sub in (create, listing, revoke):
        add_config_argument(sub)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance import audit
    from appliance.auth.keys import KeySettingError, KeySpec, KeyStore
    from appliance.config import ConfigError, load_config
    from appliance.ledger.database import make_engine, upgrade

    try:
        db = make_engine(load_config(args.config).database_url)
        upgrade(db)   # the schema, api_keys included, comes from the migrations
        store = KeyStore(db)
        if args.keys_command == "create":
            spec = KeySpec(args.name, args.tenant, [m for m in args.models.split(",") if m],
                           args.rpm, args.tpm, args.budget)
            key, secret = store.create(spec)
            audit.record("key.create", key.id, None, key.public(), engine=db)
            print(f"created {key.id} ({key.spec.name}, tenant {key.spec.tenant or '(none: caches of its own)'})")
            print(f"secret (shown once, store it now): {secret}")
        elif args.keys_command == "list":
            _print_keys([k.public() for k in store.list(include_revoked=args.all)], args.json)
        else:
            before = store.get(args.key_id).public()
            key = store.revoke(args.key_id)
            audit.record("key.revoke", key.id, before, key.public(), engine=db)
            print(f"revoked {key.id}")
    except (ConfigError, KeySettingError) as exc:
        print(f"airlock keys: {exc}", file=sys.stderr)
        return 2
    return 0


def _print_keys(keys: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(keys, indent=2))
        return
    print(f"{'id':18} {'prefix':13} {'name':20} {'tenant':12} {'models':20} {'rpm':>6} {'tpm':>8} {'budget':>10} revoked")
    for k in keys:
        print(f"{k['id']:18} {k['prefix']:13} {k['name'][:20]:20} {(k['tenant'] or '-')[:12]:12} "
              f"{','.join(k['allowed_models'])[:20] or '*':20} {k['requests_per_minute']:>6} "
              f"{k['tokens_per_minute']:>8} {k['token_budget']:>10} {k['revoked_at'] or '-'}")
