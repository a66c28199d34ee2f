"""`airlock bench-cache --quick`: the prefix-cache benchmark runs end to end on the real model."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_prefix_bench_shows_the_cache_at_work(smollm2_path) -> None:
    run = subprocess.run([sys.executable, "-m", "appliance.cli", "bench-cache", "--quick", "--json",
                          "--model", str(smollm2_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["prefix_tokens"] == 200
    assert 0.5 < result["chat_hit_rate_on"] < 1.0       # the shared system prompt, not the questions
    assert result["ttft_cached_s"] < result["ttft_uncached_s"]
