"""`airlock bench-context --quick`: decode cost against context length runs end to end on the
real model, for several KV dtypes and several streams decoding together."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appliance.cli", "bench-context", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_quick_context_bench_per_kv_dtype_with_streams_together(smollm2_path) -> None:
    run = _bench("--quick", "--json", "--precisions", "int8", "--kv-dtypes", "auto,fp16", "--streams", "3",
                 "--model", str(smollm2_path))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["streams"] == 3 and report["cpu_isa"]
    assert [(r["precision"], r["kv_dtype"]) for r in report["results"]] == [("int8", "int8"), ("int8", "fp16")]
    for result in report["results"]:
        assert set(result["itl_ms"]) == {"40", "200"} and all(ms > 0 for ms in result["itl_ms"].values())
        assert result["suffix_ttft_ms"] > 0


def test_bad_arguments_are_named() -> None:
    assert "kv dtypes must be among" in _bench("--kv-dtypes", "int4").stderr
    assert "streams must be 1 to 128, got 0" in _bench("--streams", "0").stderr
