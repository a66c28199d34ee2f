"""The GPU check program (packaging/dev/gpu_check.py), run on CPU on tiny shapes: every step it
takes on the GPU machine runs here too, so the one device run is not spent on a typo."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def test_every_step_runs_on_cpu(smollm2_hf: tuple[Any, Any], tmp_path: Path) -> None:
    smollm2_hf[1].save_pretrained(tmp_path / "tokenizer")
    run = subprocess.run([sys.executable, "packaging/dev/gpu_check.py", "--device", "cpu", "--tiny",
                          "--tokenizer", str(tmp_path / "tokenizer"), "--out", str(tmp_path / "out")],
                         cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    greedy = results["greedy_batch_fp32"]
    assert greedy["equal"] == greedy["of"] == 4, greedy          # the engine matches transformers on CPU
    assert results["greedy_alone_fp32"]["equal"] == 1
    decode = results["decode_tiny_c4"]
    assert decode["step_ms"] > 0 and decode["floor_ms"] > 0 and decode["tokens_per_s"] > 0
    assert results["bandwidth_bytes_per_s"] > 1e8
    assert "gpus" in results["nvml"]
