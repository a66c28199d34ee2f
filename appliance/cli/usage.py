"""`airlock usage report|top|export|tco|chargeback`: the ledger from the command line."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from appliance.cli import add_config_argument
from appliance.config import ConfigError, load_config
from appliance.ledger import InvalidTco, Ledger
from appliance.ledger.database import SchemaError
from appliance.ledger.energy import ConstantPower
from appliance.ledger.prices import InvalidPriceTable
from appliance.ledger.reports import GROUPS, PERIODS, RANKINGS, TOTAL_COLUMNS, InvalidReport, report_columns, to_csv


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("usage", help="usage reports, top consumers, exports and TCO")
    actions = parser.add_subparsers(dest="usage_command", required=True)
    report = actions.add_parser("report", help="totals by period and key, tenant, model, route or node")
    report.add_argument("--period", choices=PERIODS, default="day")
    report.add_argument("--group", choices=GROUPS, default="key")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    top = actions.add_parser("top", help="the keys that used the most")
    top.add_argument("-n", type=int, default=10)
    top.add_argument("--by", choices=RANKINGS, default="tokens")
    top.add_argument("--format", choices=("table", "json"), default="table")
    export = actions.add_parser("export", help="every usage row, as CSV or JSON")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--key-id")
    export.add_argument("--tenant")
    export.add_argument("--model")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    tco = actions.add_parser("tco", help="cost of ownership, per-token cost and the cloud comparison")
    tco.add_argument("--format", choices=("table", "json"), default="table")
    tco.add_argument("--per-node", action="store_true",
                     help="one line per node of a fleet (each a box with these TCO inputs) and the total")
    charge = actions.add_parser("chargeback", help="cost per tenant: used and idle capacity, cached savings")
    charge.add_argument("--period", choices=PERIODS, default="month")
    charge.add_argument("--start", type=_when, help="a UTC date inside the period (default: the current one)")
    charge.add_argument("--idle", choices=("share", "central"),
                        help="idle capacity: allocated by compute share or kept central (default: ledger.chargeback_idle)")
    charge.add_argument("--format", choices=("table", "csv", "json", "html"), default="table")
    charge.add_argument("--output", "-o", help="write to this file instead of standard output")
    add_config_argument(charge)
    charge.set_defaults(func=run)
    for sub in (report, top, export, tco):
        add_config_argument(sub)
        sub.add_argument("--since", type=_when, help="from this UTC date or time (YYYY-MM-DD[THH:MM])")
        if sub is not top:
            sub.add_argument("--until", type=_when, help="up to (not including) this UTC date or time")
        sub.set_defaults(func=run)


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"airlock usage: {exc}", file=sys.stderr)
        return 2
    try:
        ledger = Ledger.open(config.database_url, tco=config.tco, host_watts=config.ledger.host_watts,
                             power_source=ConstantPower(0), cloud_prices_path=config.ledger.cloud_prices_path or None)
    except (SchemaError, InvalidTco, InvalidPriceTable, SQLAlchemyError, OSError) as exc:
        print(f"airlock usage: cannot open the ledger: {exc}", file=sys.stderr)
        return 1
    args.idle_default = config.ledger.chargeback_idle
    try:
        print(COMMANDS[args.usage_command](ledger, args), end="")
        return 0
    except InvalidReport as exc:
        print(f"airlock usage: {exc}", file=sys.stderr)
        return 2
    finally:
        ledger.close()


def _report(ledger: Ledger, args: argparse.Namespace) -> str:
    rows = ledger.report(args.period, args.group, args.since, args.until)
    return _render(rows, report_columns(args.group), args.format)


def _top(ledger: Ledger, args: argparse.Namespace) -> str:
    rows = ledger.top_consumers(args.n, args.by, args.since)
    return _render(rows, ("key_id", "key_name", "tenant") + TOTAL_COLUMNS, args.format)


def _export(ledger: Ledger, args: argparse.Namespace) -> str:
    rows = ledger.export_json(args.since, args.until, key_id=args.key_id, tenant=args.tenant, model=args.model)
    text = to_csv(rows) if args.format == "csv" else json.dumps(rows, indent=1) + "\n"
    if not args.output:
        return text
    Path(args.output).write_text(text)
    return f"wrote {len(rows)} rows to {args.output}\n"


def _tco(ledger: Ledger, args: argparse.Namespace) -> str:
    if args.per_node:
        return _tco_per_node(ledger, args)
    report = ledger.tco(args.since, args.until)
    tiers = ledger.tier_costs(args.since, args.until)
    if args.format == "json":
        return json.dumps({**report.to_dict(), **tiers}, indent=1) + "\n"
    money = report.inputs.currency
    lines = [f"window: {report.window.hours:.1f} h, {report.window.requests} requests, "
             f"utilisation {report.window.utilisation:.1%}",
             f"cost per hour owned: {report.cost_per_hour_owned:.4f} {money} (capital {report.capital_per_hour:.4f}, "
             f"energy {report.energy_per_hour:.4f}, operations {report.operations_per_hour:.4f})",
             f"window cost: {report.window_cost:.2f} {money}, of which idle {report.idle_cost:.2f}",
             f"per million tokens: input {_money(report.cost_per_million_input)}, "
             f"output {_money(report.cost_per_million_output)} {money}",
             f"saved by cached prompt tokens: {report.cached_savings:.4f} {money}", ""]
    cloud = [{"provider": c.provider, "model": c.model, "price_date": c.price_date,
              "cloud_cost": c.cloud_cost, "savings": c.savings} for c in report.cloud]
    return ("\n".join(lines) + _render(cloud, ("provider", "model", "price_date", "cloud_cost", "savings"), "table")
            + "\n" + _tiers(tiers, money))


NODE_COLUMNS = ("node", "requests", "tokens", "utilisation", "window_cost", "cost_per_million_tokens")


def _tco_per_node(ledger: Ledger, args: argparse.Namespace) -> str:
    """Each node's TCO and the fleet's total: the sum of the boxes' costs over all their tokens."""
    reports_ = ledger.tco_by_node(args.since, args.until)
    rows = [_node_row(name, r.window.requests, r.window.input_tokens + r.window.output_tokens, r.window_cost,
                      round(r.window.utilisation, 4)) for name, r in reports_.items()]
    total = _node_row("total", sum(r["requests"] for r in rows), sum(r["tokens"] for r in rows),
                      sum(r["window_cost"] for r in rows), None)
    if args.format == "json":
        return json.dumps({"nodes": rows, "total": total}, indent=1) + "\n"
    return _render(rows + [total], NODE_COLUMNS, "table")


def _node_row(node: str, requests: int, tokens: int, cost: float, utilisation: float | None) -> dict:
    return {"node": node, "requests": requests, "tokens": tokens, "utilisation": utilisation, "window_cost": cost,
            "cost_per_million_tokens": cost / tokens * 1_000_000 if tokens else None}


def _tiers(tiers: dict, money: str) -> str:
    """Cost per 1M tokens per tier, and what routing saved against always the largest tier."""
    table = _render(tiers["tiers"], ("tier", "quantization", "requests", "tokens", "cost",
                                     "cost_per_million_tokens", "routed_requests"), "table")
    routing = tiers["routing"]
    if routing["largest_tier"] is None:
        return table + "routing: no routed requests in the window\n"
    return table + (f"routing: spent {routing['routed_cost']:.6f} {money}; always {routing['largest_tier']} would have "
                    f"cost {routing['always_largest_cost']:.6f}; saved {routing['savings']:.6f} {money}\n")


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _render(rows: list[dict], columns: tuple[str, ...], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    if fmt == "csv":
        return to_csv(rows, columns)
    cells = [list(columns)] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n" for r in cells)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


def _chargeback(ledger: Ledger, args: argparse.Namespace) -> str:
    from appliance.ledger import chargeback

    since, until = chargeback.period_bounds(args.period, args.start)
    charge = chargeback.build(ledger, since, until, args.idle or args.idle_default)
    if args.format == "table":
        rows = [{c: getattr(r, c) for c in chargeback.COLUMNS} for r in charge.rows]
        text = (f"{since.date()} to {until.isoformat(timespec='minutes')}: {charge.period_cost:.2f} {charge.currency} "
                f"= used {charge.used_cost:.2f} + idle {charge.idle_cost:.2f} (utilisation {charge.utilisation:.1%}, "
                f"idle {charge.idle_allocation})\n" + _render(rows, chargeback.COLUMNS, "table"))
    else:
        render = {"csv": chargeback.to_csv, "html": chargeback.to_html,
                  "json": lambda c: json.dumps(c.to_dict(), indent=1) + "\n"}[args.format]
        text = render(charge)
    if not args.output:
        return text
    Path(args.output).write_text(text)
    return f"wrote the {args.period}'s chargeback ({len(charge.rows)} lines) to {args.output}\n"


COMMANDS = {"report": _report, "top": _top, "export": _export, "tco": _tco, "chargeback": _chargeback}
