"""`airlock models import|list|show|remove|plan`: the model store and the memory planner, offline."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appliance.cli import add_config_argument
from engine.config import KV_DTYPES

QUANTIZATION_CHOICES = ("auto", "fp32", "fp16", "bf16", "int8", "nf4")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="import, list, show and remove models; plan memory")
    commands = parser.add_subparsers(dest="models_command", required=True)
    imp = commands.add_parser("import", help="check a .gguf file or a Hugging Face directory and copy it into the store")
    imp.add_argument("path", type=Path)
    imp.add_argument("--name", help="store name (default: from the file or directory name)")
    listing = commands.add_parser("list", help="models in the store")
    show = commands.add_parser("show", help="a model's manifest")
    show.add_argument("name")
    remove = commands.add_parser("remove", help="delete a model from the store")
    remove.add_argument("name")
    verify = commands.add_parser("verify", help="re-hash a model's files against its manifest")
    verify.add_argument("name")
    plan = commands.add_parser("plan", help="memory plan and what-if table, before loading")
    target = plan.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?", help="a model in the store")
    target.add_argument("--config-json", type=Path, help="a config.json of a model not in the store")
    plan.add_argument("--quantization", choices=QUANTIZATION_CHOICES, default="auto")
    plan.add_argument("--kv-dtype", choices=(*KV_DTYPES, "fp8"), help="default: the compute precision")
    plan.add_argument("--context", type=int, help="tokens per sequence (default: the model's window)")
    plan.add_argument("--concurrency", type=int, default=1, help="sequences at once")
    plan.add_argument("--device", help="cpu or cuda[:N] (default: models.device from the config)")
    plan.add_argument("--budget-gib", type=float, help="memory budget in GiB (what-if for other hardware)")
    for sub in (imp, listing, show, remove, verify, plan):
        add_config_argument(sub)
        sub.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from appliance.config import ConfigError, load_config
    from appliance.models.errors import StoreError
    from engine.planner import PlanError

    try:
        config = load_config(args.config)
        return _COMMANDS[args.models_command](args, config)
    except (ConfigError, StoreError, PlanError, ValueError) as exc:
        print(f"airlock models: {exc}", file=sys.stderr)
        return 2


def _store(config: Any) -> Any:
    from appliance.models.store import ModelStore
    return ModelStore(config.store_path)


def _import(args: argparse.Namespace, config: Any) -> int:
    entry = _store(config).import_path(args.path, name=args.name)
    _audit(config, "model.import", entry.name, None, {"path": str(args.path), "size": entry.size})
    _print(args, entry.to_json(), f"imported {entry.name} ({entry.architecture}, "
                                  f"{entry.parameters:,} parameters, {_mib(entry.size)}) into {entry.directory}")
    return 0


def _audit(config: Any, action: str, target: str, before: Any, after: Any) -> None:
    """Record a store change in the ledger database's audit log (the CLI user is the actor)."""
    from appliance import audit
    from appliance.ledger.database import make_engine, upgrade

    db = make_engine(config.database_url)
    try:
        upgrade(db)
        audit.record(action, target, before, after, engine=db)
    finally:
        db.dispose()


def _list(args: argparse.Namespace, config: Any) -> int:
    entries = _store(config).list()
    rows = [f"{'name':<32} {'format':<6} {'arch':<12} {'params':>14} {'context':>8} {'size':>12}"]
    rows += [f"{e.name:<32} {e.format:<6} {e.architecture:<12} {e.parameters:>14,} {e.context_length:>8} "
             f"{_mib(e.size):>12}" for e in entries]
    _print(args, [e.to_json() for e in entries], "\n".join(rows) if entries else "the store is empty")
    return 0


def _show(args: argparse.Namespace, config: Any) -> int:
    data = _store(config).get(args.name).to_json()
    text = "\n".join(f"{k}: {v}" for k, v in data.items() if k not in ("files", "config"))
    text += "\nfiles:\n" + "\n".join(f"  {f['path']}  {f['size']:,} bytes  sha256 {f['sha256']}" for f in data["files"])
    _print(args, data, text)
    return 0


def _remove(args: argparse.Namespace, config: Any) -> int:
    before = _store(config).get(args.name).to_json()
    _store(config).remove(args.name)
    _audit(config, "model.remove", args.name, {k: v for k, v in before.items() if k not in ("files", "config")}, None)
    _print(args, {"removed": args.name}, f"removed {args.name}")
    return 0


def _verify(args: argparse.Namespace, config: Any) -> int:
    problems = _store(config).verify(args.name)
    _print(args, {"name": args.name, "ok": not problems, "problems": problems},
           "\n".join(problems) if problems else f"{args.name}: every file matches its sha256")
    return 1 if problems else 0


def _plan(args: argparse.Namespace, config: Any) -> int:
    from appliance.models.manager import ModelManager

    if args.device:
        config.models.device = args.device
    if args.budget_gib is not None:
        if args.budget_gib <= 0:
            raise ValueError(f"--budget-gib must be positive, got {args.budget_gib}")
        config.models.memory_budget_bytes = int(args.budget_gib * 1024**3)
    model_config = None
    if args.config_json:
        try:
            model_config = json.loads(args.config_json.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {args.config_json}: {exc}") from None
    report = ModelManager(config).plan(args.name, config=model_config, quantization=args.quantization,
                                       kv_dtype=args.kv_dtype, context_length=args.context,
                                       concurrency=args.concurrency)
    _print(args, report.to_json(), plan_table(report))
    return 0


def plan_table(report: Any) -> str:
    """The what-if table of a PlanReport, the requested quantization marked with '*'."""
    p = report.plan
    head = (f"{report.model or 'config.json'}: {report.architecture}, {report.parameters:,} parameters, "
            f"window {report.max_context:,} tokens\n"
            f"device {report.device}: {_gib(report.device_memory) if report.device_memory else 'not present'}, "
            f"budget {_gib(report.budget_bytes)}, "
            f"free {_gib(report.free_bytes)}\n"
            f"target: {p.concurrency} x {p.context_length:,} tokens, KV {p.kv_dtype} "
            f"({p.kv_bytes_per_token:,} bytes/token)\n"
            + (f"drafting model (speculation): {_gib(p.draft_weight_bytes)} of weights, "
               f"{p.draft_kv_bytes_per_token:,} KV bytes/token, both counted below\n" if p.draft_weight_bytes else ""))
    rows = [f"  {'quant':<6} {'weights':>10} {'KV':>10} {'workspace':>10} {'total':>10} {'fits':>5} "
            f"{'max seqs':>9} {'max ctx':>9}"]
    for w in report.what_if:
        mark = "*" if w.quantization == p.quantization else " "
        rows.append(f"{mark} {w.quantization:<6} {_gib(w.weight_bytes):>10} {_gib(w.kv_bytes):>10} "
                    f"{_gib(w.overhead_bytes):>10} {_gib(w.total_bytes):>10} {'yes' if w.fits else 'no':>5} "
                    f"{w.max_concurrency:>9,} {w.max_context:>9,}")
    return head + "\n".join(rows)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"


def _gib(n: int) -> str:
    return f"{n / 1024**3:,.2f} GiB"


_COMMANDS = {"import": _import, "list": _list, "show": _show, "remove": _remove, "verify": _verify, "plan": _plan}
