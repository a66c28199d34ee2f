"""`airlock bench sweep`: the efficient frontier of one model and precision. Runs the engine over
concurrency levels x scheduler settings, prints a table and a terminal chart (or JSON), and keeps
the result: in the ledger database (bench_runs), as JSON and as a PNG beside it."""
from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from appliance.cli._bench import add_model_argument, add_quick_and_json, fail, prepare_to_load, quiet_transformers
from appliance.config import ConfigError, load_config


def register_under(actions: argparse._SubParsersAction) -> None:
    parser = actions.add_parser("sweep", help="throughput and latency over concurrency x scheduler settings")
    add_model_argument(parser)
    parser.add_argument("--name", help="model name to record (default: the config's default model)")
    parser.add_argument("--quantization", choices=("fp32", "bf16", "int8"), default="fp32",
                        help="the engine's precision")
    parser.add_argument("--concurrency", help="comma-separated levels, e.g. 1,4,16,64")
    parser.add_argument("--settings", help="comma-separated max_num_seqs:token_budget:chunk, e.g. 8:256:0,32:512:128")
    parser.add_argument("--rounds", type=int, help="requests per client")
    parser.add_argument("--max-tokens", type=int, help="the longest output of the mix")
    parser.add_argument("--system-prompt", action="store_true", help="one shared system prompt before every chat")
    parser.add_argument("--out", type=Path, help="folder for the JSON and PNG (default <data_dir>/bench)")
    parser.add_argument("--no-db", action="store_true", help="do not record the sweep in the ledger database")
    add_quick_and_json(parser, quick_help="3 concurrency levels x 2 settings, short outputs")
    parser.add_argument("--config", help="TOML config file (default: $AIRLOCK_CONFIG)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        plan = _plan(args)
    except (ConfigError, ValueError) as exc:
        return fail("bench sweep", exc)
    if not prepare_to_load("bench sweep", args.model):
        return 2
    quiet_transformers()
    record = _sweep(args, config, plan)
    out = args.out or Path(config.data_dir) / "bench"
    png, json_path = _write_files(record, out)
    if not args.no_db:
        _save(config, record)
    print(record.to_json() if args.json else _report(record, png, json_path))
    return 0


def _plan(args: argparse.Namespace):
    from dataclasses import replace

    from engine.bench.sweep import FULL, QUICK
    from engine.config import EngineConfig

    plan = QUICK if args.quick else FULL
    changes: dict = {"system_prompt": args.system_prompt}
    if args.concurrency:
        changes["concurrency"] = tuple(_int(c, "--concurrency") for c in args.concurrency.split(","))
    if args.settings:
        changes["settings"] = tuple(_setting(s) for s in args.settings.split(","))
    if args.rounds is not None:
        changes["rounds"] = args.rounds
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    plan = replace(plan, **changes)
    for s in plan.settings:      # the engine's own checks, before the model is loaded
        EngineConfig(max_num_seqs=s.max_num_seqs, max_num_batched_tokens=s.max_num_batched_tokens,
                     max_prefill_chunk=s.max_prefill_chunk)
    return plan


def _setting(text: str):
    from engine.bench.frontier import SchedulerSetting

    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"--settings takes max_num_seqs:token_budget[:chunk], got {text!r}")
    return SchedulerSetting(*(_int(p, "--settings") for p in parts))


def _int(text: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{flag} takes integers, got {text!r}") from None


def _sweep(args: argparse.Namespace, config, plan):
    from engine.bench.sweep import run_sweep
    from engine.loader import load_model
    from appliance.cli._sweep_progress import SweepProgress
    from appliance.ledger.bench_runs import SweepRecord

    inputs = _tco_inputs(config)
    model = load_model(args.model, precision=args.quantization, name=args.name or config.models.default_model)
    from appliance.ledger.tco import cost_per_hour_owned

    with SweepProgress(plan) as progress:
        points = run_sweep(model, plan, cost_per_hour_owned(inputs, 1.0), progress.update)
    workload = (f"chat mix{' + shared system prompt' if plan.system_prompt else ''}, {plan.rounds} requests "
                f"per client, up to {plan.max_tokens} output tokens, greedy, EOS ignored")
    return SweepRecord(model=model.name, quantization=args.quantization, workload=workload,
                       currency=inputs.currency, points=points, setup=_setup(args))


def _tco_inputs(config):
    """The TCO inputs in effect: the ledger's latest edit, else the config file's."""
    from appliance.ledger import database
    from appliance.ledger.ledger import _current_tco
    from appliance.ledger.tco import TcoInputs

    try:
        engine = database.make_engine(config.database_url)
        database.upgrade(engine)
        return _current_tco(engine) or TcoInputs.from_mapping(config.tco)
    except Exception:  # an unreadable database must not stop a benchmark: the config's figures
        return TcoInputs.from_mapping(config.tco)


def _setup(args: argparse.Namespace) -> dict:
    """The machine (engine/bench/common.py), under the names earlier sweeps were recorded with too."""
    from engine.bench.common import Machine

    machine = Machine.now()
    return {**asdict(machine), "machine": machine.arch, "isa": machine.cpu_isa, "quick": args.quick}


def _write_files(record, out: Path) -> tuple[Path, Path]:
    from engine.bench.frontier_plot import write_png

    stem = out / f"sweep-{record.model}-{record.quantization}-{record.created_at:%Y%m%dT%H%M%S}"
    json_path = stem.with_suffix(".json")
    out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(record.to_json())
    png = write_png(record.points, stem.with_suffix(".png"), _title(record), record.currency)
    return png, json_path


def _save(config, record) -> None:
    from appliance.ledger import database
    from appliance.ledger.bench_runs import save_sweep

    engine = database.make_engine(config.database_url)
    database.upgrade(engine)
    save_sweep(engine, record)
    engine.dispose()


def _title(record) -> str:
    return f"{record.model} ({record.quantization}): throughput vs p95 ITL"


def _report(record, png: Path, json_path: Path) -> str:
    from appliance.cli._sweep_table import sweep_table
    from engine.bench.frontier_plot import terminal_chart

    lines = [sweep_table(record), "", terminal_chart(record.points, _title(record)), "",
             f"saved: {json_path}", f"plot:  {png}", f"run id {record.run_id} (ledger table bench_runs)"]
    return "\n".join(lines)
