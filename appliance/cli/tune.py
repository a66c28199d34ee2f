"""`airlock tune --slo-ttft-p95 2s --slo-itl-p95 150ms`: choose the operating point from an SLO.

Reads the latest sweep of the model from the ledger database (or a sweep JSON file, or runs a
quick sweep when there is none), picks the fastest point that meets the SLO, explains why, and
writes the scheduler settings and the SLO to the config file's [scheduler] table, or applies
them to the running server through the admin API (--apply). max_num_seqs is written as the
smaller of the point's max_num_seqs and its concurrency: the batch the point was measured at.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from appliance.cli import add_config_argument
from appliance.config import ConfigError, load_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tune", help="choose scheduler settings from an SLO and the latest sweep")
    parser.add_argument("--slo-ttft-p95", help="p95 time to first token, e.g. 2s or 800ms")
    parser.add_argument("--slo-itl-p95", help="p95 inter-token latency, e.g. 150ms")
    parser.add_argument("--model", help="model name (default: the config's default model)")
    parser.add_argument("--sweep", type=Path, help="a sweep JSON file instead of the ledger's latest sweep")
    parser.add_argument("--apply", metavar="URL", help="apply to the server at URL (admin API) instead of the file")
    parser.add_argument("--dry-run", action="store_true", help="explain the choice, change nothing")
    add_config_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.bench.frontier import choose
    from engine.slo import InvalidSlo, parse_seconds

    try:
        ttft = parse_seconds(args.slo_ttft_p95, "--slo-ttft-p95") if args.slo_ttft_p95 is not None else None
        itl = parse_seconds(args.slo_itl_p95, "--slo-itl-p95") if args.slo_itl_p95 is not None else None
        if ttft is None and itl is None:
            raise InvalidSlo("give --slo-ttft-p95, --slo-itl-p95 or both")
        config = load_config(args.config)
        record = _sweep(args, config)
    except (InvalidSlo, ConfigError, ValueError, OSError) as exc:
        print(f"airlock tune: {exc}", file=sys.stderr)
        return 2
    choice = choose(record.points, ttft, itl)
    print(f"sweep {record.run_id} of {record.model} ({record.quantization}), {record.created_at:%Y-%m-%d %H:%M} UTC, "
          f"{len(record.points)} points")
    print("\n".join(choice.explanation))
    if choice.point is None:
        return 1
    settings = scheduler_settings(choice.point, ttft, itl)
    print("settings: " + ", ".join(f"{k} = {v}" for k, v in settings.items()))
    if args.dry_run:
        return 0
    try:
        where = _apply(args.apply, config, record.model, settings) if args.apply else \
            write_config(_config_path(args), settings)
    except (ConfigError, OSError, RuntimeError) as exc:
        print(f"airlock tune: {exc}", file=sys.stderr)
        return 1
    print(f"written to {where}")
    return 0


def scheduler_settings(point, ttft: float | None, itl: float | None) -> dict:
    s = point.setting
    seqs = min(s.max_num_seqs, point.concurrency)
    return {"max_num_seqs": seqs, "max_num_batched_tokens": max(s.max_num_batched_tokens, seqs),
            "max_prefill_chunk": s.max_prefill_chunk, "slo_ttft_p95_seconds": ttft or 0.0,
            "slo_itl_p95_seconds": itl or 0.0}


def write_config(path: Path, settings: dict) -> Path:
    """Set the [scheduler] table of the TOML file at path (created if absent), keeping the rest."""
    import tomlkit

    document = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    table = document.setdefault("scheduler", tomlkit.table())
    for key, value in settings.items():
        table[key] = value
    path.write_text(tomlkit.dumps(document))
    load_config(path)                     # what was written must load
    return path


def _config_path(args: argparse.Namespace) -> Path:
    import os

    path = args.config or os.environ.get("AIRLOCK_CONFIG")
    if not path:
        raise ConfigError("no config file to write: give --config FILE (or set AIRLOCK_CONFIG), or --apply URL")
    return Path(path)


def _sweep(args: argparse.Namespace, config):
    from appliance.ledger import database
    from appliance.ledger.bench_runs import SweepRecord, latest_sweep

    if args.sweep:
        return SweepRecord.from_dict(json.loads(args.sweep.read_text()))
    model = args.model or config.models.default_model
    engine = database.make_engine(config.database_url)
    database.upgrade(engine)
    record = latest_sweep(engine, model)
    if record is None:
        print(f"airlock tune: no sweep of {model} recorded yet; running a quick one", file=sys.stderr)
        from appliance.cli import main

        if main(["bench", "sweep", "--quick", "--name", model] + _config_flag(args)) != 0:
            raise ValueError("the quick sweep failed")
        record = latest_sweep(engine, model)
    engine.dispose()
    return record


def _config_flag(args: argparse.Namespace) -> list[str]:
    return ["--config", args.config] if args.config else []


def _apply(url: str, config, model: str, settings: dict) -> str:
    import httpx

    from appliance.auth.admin import admin_token

    headers = {"Authorization": f"Bearer {admin_token(config)}"}
    batching = {k: settings[k] for k in ("max_num_seqs", "max_num_batched_tokens", "max_prefill_chunk")}
    slo = {"ttft_p95_seconds": settings["slo_ttft_p95_seconds"] or None,
           "itl_p95_seconds": settings["slo_itl_p95_seconds"] or None}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for path, body in (("/admin/scheduler", batching), ("/admin/slo", slo)):
            reply = client.put(path, json={"model": model, **body})
            if reply.status_code != 200:
                raise RuntimeError(f"{path} answered {reply.status_code}: {reply.text[:300]}")
    return f"{url} (model {model}, until the service restarts)"
