"""`airlock bench-ledger` runs end to end (write part only; the engine part is a benchmark)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.cli import main


def test_bench_ledger_write_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert main(["bench-ledger", "--rows", "4000", "--producers", "2", "--baseline-rows", "300", "--model", "none", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "batched writer (record())" in printed and "ratio batched / per-row" in printed
    result = json.loads(out.read_text())
    assert result["write"]["batched"]["rows"] == 4000
    assert result["write"]["ratio"] == pytest.approx(
        result["write"]["batched"]["rows_per_s"] / result["write"]["row_per_commit"]["rows_per_s"])


def test_bench_ledger_refuses_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench-ledger", "--rows", "0", "--model", "none"]) == 2
    assert "rows must be an integer of at least 1" in capsys.readouterr().err
    assert main(["bench-ledger", "--model", "/nonexistent.gguf"]) == 2
    assert "model file /nonexistent.gguf not found" in capsys.readouterr().err
