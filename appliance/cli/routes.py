"""`airlock routes list|test|set|delete|train`: routes through the running service's admin API;
`train` fits the complexity classifier here, from a labelled file, and the service rereads it."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.cli import add_config_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("routes", help="list, test, define and delete routes; retrain the classifier")
    commands = parser.add_subparsers(dest="routes_command", required=True)
    listing = commands.add_parser("list", help="routes in force, their tiers and traffic share")
    test = commands.add_parser("test", help="which tier a prompt would take now, and why")
    test.add_argument("prompt")
    test.add_argument("--route", default="auto", help="route name (default auto)")
    test.add_argument("--max-tokens", type=int, help="the max_tokens a request would ask for")
    put = commands.add_parser("set", help="create or replace one route from JSON")
    put.add_argument("name")
    put.add_argument("definition", help='JSON, e.g. \'{"tiers": ["small", "big"], "rules": [...]}\' or @file.json')
    delete = commands.add_parser("delete", help="delete one route")
    delete.add_argument("name")
    train = commands.add_parser("train", help="retrain the complexity classifier from a labelled file")
    train.add_argument("--data", type=Path, help="label<TAB>prompt lines (default: the shipped file)")
    for sub in (listing, test, put, delete, train):
        add_config_argument(sub)
        sub.add_argument("--json", action="store_true", help="print JSON")
    for sub in (listing, test, put, delete):
        sub.add_argument("--url", help="admin API address (default: the config's server host and port)")
        sub.add_argument("--admin-token", help="admin credential (default: server.admin_token or <data_dir>/admin_token)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import httpx

    from appliance.config import ConfigError, load_config
    from appliance.routing.classifier import TrainingDataError

    try:
        config = load_config(args.config)
        if args.routes_command == "train":
            return _train(args, config)
        return _admin(args, config)
    except (ConfigError, TrainingDataError, ValueError, OSError) as exc:
        print(f"airlock routes: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"airlock routes: cannot reach the service: {exc}", file=sys.stderr)
        return 1


def _admin(args: argparse.Namespace, config: Any) -> int:
    import httpx

    from appliance.cli.console import default_token, default_url

    client = httpx.Client(base_url=args.url or default_url(config), timeout=30,
                          headers={"Authorization": f"Bearer {args.admin_token or default_token(config)}"})
    if args.routes_command == "list":
        response = client.get("/admin/routes")
    elif args.routes_command == "test":
        response = client.post("/admin/routes/test", json={"model": args.route, "prompt": args.prompt,
                                                            "max_tokens": args.max_tokens})
    elif args.routes_command == "set":
        text = Path(args.definition[1:]).read_text() if args.definition.startswith("@") else args.definition
        response = client.put(f"/admin/routes/{args.name}", json=json.loads(text))
    else:
        response = client.delete(f"/admin/routes/{args.name}")
    body = response.json()
    if response.status_code >= 400:
        print(f"airlock routes: {body.get('error', {}).get('message', response.text)}", file=sys.stderr)
        return 2
    print(json.dumps(body, indent=1) if args.json else _render(args.routes_command, body))
    return 0


def _render(command: str, body: dict) -> str:
    if command == "test":
        lines = [f"route {body['route']} -> tier {body['tier']} (rule {body['rule']})",
                 f"prompt tokens {body['prompt_tokens']} ({body['tokens_counted_by']}), "
                 f"complexity {body['complexity']}"]
        return "\n".join(lines + [f"  why: {w}" for w in body["why"]]
                         + [f"  then: {', '.join(body['fallbacks'])}" if body["fallbacks"] else "  then: nothing"])
    lines = [f"routes not taken at start: {body['error']}"] if body.get("error") else []
    for route in body["routes"]:
        traffic = route["traffic"]
        share = ", ".join(f"{t} {n}" for t, n in traffic["tiers"].items()) or "no traffic yet"
        lines.append(f"{route['name']}: {' > '.join(route['resolved'])}  (loaded: {', '.join(route['loaded']) or 'none'})")
        for rule in route["rules"]:
            conditions = ", ".join(f"{k}={v}" for k, v in rule.items() if k not in ("name", "tier"))
            lines.append(f"  rule {rule['name']}: {conditions} -> {rule['tier']}")
        limits = [f"max_queue={route['max_queue']}"] if route["max_queue"] else []
        limits += [f"slo_ttft_seconds={route['slo_ttft_seconds']}"] if route["slo_ttft_seconds"] else []
        lines.append(f"  default {route['default'] or route['resolved'][0]}; spill on {', '.join(limits) or 'nothing'}")
        lines.append(f"  traffic: {share}; spills {traffic['spills']}, fallbacks {traffic['fallbacks']}")
    return "\n".join(lines) or "no routes"


def _train(args: argparse.Namespace, config: Any) -> int:
    from appliance.routing import classifier_path
    from appliance.routing.classifier import SHIPPED_DATA, read_labelled, train

    data = args.data or SHIPPED_DATA
    examples = read_labelled(data)
    model = train(examples, source=str(data))
    target = classifier_path(config)
    model.save(target)
    summary = {"examples": len(examples), "complex": sum(y for _, y in examples), "training_accuracy": model.accuracy,
               "written": str(target)}
    print(json.dumps(summary, indent=1) if args.json else
          f"trained on {len(examples)} examples from {data} (training accuracy {model.accuracy:.1%}); "
          f"wrote {target}; the running service picks it up on its next routed request")
    return 0
