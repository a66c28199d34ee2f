"""The bench_runs table (migration 0004) on a real SQLite file: up with data kept, down and up
again; a sweep saved and read back as the latest, per model."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from appliance.ledger import database
from appliance.ledger.bench_runs import SweepRecord, latest_sweep, save_sweep
from tests.frontier.sweep_fixture import recorded_points

TCO_ROW = ("INSERT INTO tco_inputs (updated_at, hardware_price, amortization_years, residual_value, "
           "power_watts, price_per_kwh, pue, operations_per_month, utilisation, currency) VALUES "
           "('2026-01-01 00:00:00.000000', 1, 1, 0, 1, 0.1, 1.2, 1, 0.5, 'EUR')")


def record(model: str = "smollm2-135m-instruct") -> SweepRecord:
    return SweepRecord(model=model, quantization="fp32", workload="chat mix", currency="EUR",
                       points=recorded_points())


def test_0004_upgrades_from_0003_keeping_data_and_downgrades_cleanly(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    database.upgrade(engine, "0003", backup=False)
    with engine.begin() as conn:
        conn.execute(text(TCO_ROW))
    database.upgrade(engine, "0004")
    assert "bench_runs" in inspect(engine).get_table_names()
    assert {i["name"] for i in inspect(engine).get_indexes("bench_runs")} == {
        "ix_bench_runs_run_id", "ix_bench_runs_model_created"}
    save_sweep(engine, record())
    database.downgrade(engine, "0003")
    assert "bench_runs" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT currency FROM tco_inputs")).scalar_one() == "EUR"
    database.upgrade(engine)
    assert latest_sweep(engine) is None                  # the table came back empty


def test_a_saved_sweep_reads_back_as_the_latest(tmp_path: Path) -> None:
    engine = database.make_engine(f"sqlite:///{tmp_path / 's.db'}")
    database.upgrade(engine)
    first, other, second = record(), record("gemma3-270m"), record()
    for r in (first, other, second):
        save_sweep(engine, r)
    latest = latest_sweep(engine, "smollm2-135m-instruct")
    assert latest.run_id == second.run_id and latest.currency == "EUR"
    assert latest.points == second.points                # every figure, Pareto flags included
    assert latest_sweep(engine).run_id == second.run_id
    assert latest_sweep(engine, "gemma3-270m").run_id == other.run_id
    assert latest_sweep(engine, "none-such") is None
