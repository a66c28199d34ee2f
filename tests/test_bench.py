"""`airlock bench --quick`: the engine and the three transformers baselines on the real SmolLM2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bench.report import BenchReport, RequestTiming, SystemResult, percentile
from engine.bench.workload import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent


def airlock(*args: str) -> subprocess.CompletedProcess:
    command = "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", command, "bench", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_quick_c32_runs_the_engine_and_every_baseline(smollm2_path: Path) -> None:
    done = airlock("--quick", "--scenario", "c32", "--json", "--model", str(smollm2_path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    quick = SCENARIOS["c32"].quick()
    assert report["scenario"] == "c32" and report["headline"] == "output_tokens_per_s"
    engine = report["airlock"]
    assert engine["requests"] == quick.requests
    assert engine["output_tokens"] == quick.requests * quick.max_tokens
    assert engine["output_tokens_per_s"] > 0 and engine["ttft_p50_s"] <= engine["ttft_p95_s"]
    systems = {b["system"]: b for b in report["baselines"]}
    assert len(systems) == 3
    for baseline in systems.values():
        assert baseline["output_tokens"] == baseline["requests"] * quick.max_tokens
        ratio = engine["output_tokens_per_s"] / baseline["output_tokens_per_s"]
        assert baseline["airlock_ratio"] == pytest.approx(ratio)
    # greedy fp32 one request at a time: the engine must give the very same tokens
    assert systems["transformers generate, one at a time"]["same_tokens"] == 1.0
    assert "1 of 4 requests" in systems["transformers generate, one at a time"]["note"]


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    done = airlock("--quick", "--model", str(tmp_path / "nope.gguf"))
    assert done.returncode == 2
    assert "nope.gguf does not exist" in done.stderr and "Traceback" not in done.stderr


def test_table_shows_ratios_and_notes() -> None:
    def result(name: str, wall: float, note: str = "") -> SystemResult:
        timings = [RequestTiming(10, [1, 2, 3, 4], 0.5, [0.1, 0.2, 0.3]) for _ in range(2)]
        return SystemResult(name, wall, timings, note)

    report = BenchReport(SCENARIOS["c32"], "m.gguf", {"device": "cpu"}, result("airlock", 1.0),
                         [result("slow one", 4.0, "1 of 2 requests")])
    assert report.ratio(report.baselines[0]) == pytest.approx(4.0)
    table = report.to_table()
    assert "4.00" in table and "slow one: 1 of 2 requests" in table and "8.0" in table   # 8 tokens / 1 s
    assert json.loads(report.to_json())["baselines"][0]["airlock_ratio"] == pytest.approx(4.0)


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([], 50) is None


def test_llamacpp_side_by_side_or_a_clear_error_without_the_binding(smollm2_path: Path) -> None:
    """llama-cpp-python is an optional benchmark dependency: without it, one line that says how to
    get it; with it, both systems on the same file, the ratio against llama.cpp in the table."""
    import importlib.util

    command = "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", command, "bench-llamacpp", "--model", str(smollm2_path),
                           "--precisions", "int8", "--max-tokens", "8", "--llama-batch", "1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if importlib.util.find_spec("llama_cpp") is None:
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "pip install llama-cpp-python" in done.stderr
        return
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith(("llama.cpp", "airlock"))}
    assert rows["llama.cpp"].split()[1] == "Q4_1" and rows["airlock"].split()[1] == "int8"
    assert rows["airlock"].rstrip().endswith("x")


def test_quick_speculation_bench_alternates_pairs_and_keeps_the_text(smollm2_path: Path) -> None:
    done = airlock("--quick", "--speculation", "ngram", "--repeats", "2", "--json", "--model", str(smollm2_path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["method"] == "ngram" and report["repeats"] == 2
    rows = {row["scenario"]: row for row in report["rows"]}
    assert set(rows) == {"grounded", "chat", "c32"}
    for row in rows.values():
        assert row["identical"] and len(row["ratios"]) == 2
        assert row["ratio"] == pytest.approx(row["tokens_per_s_on"] / row["tokens_per_s_off"])
        assert row["ratio"] == pytest.approx(sorted(row["ratios"])[1], abs=1e-3)   # the median pair (upper of 2)
    assert rows["grounded"]["accepted_tokens"] > 0 and rows["c32"]["draft_tokens"] == 0   # adaptive: none at c32
    assert report["verify_pass_ms"] > 0 and report["draft_step_ms"] is None
