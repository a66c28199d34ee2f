"""`airlock bench-llama-server`: the openai-client load generator's counts against a real served
Airlock, the clear failure without the llama-server binary, and, where llama-server is built
(on PATH or $AIRLOCK_LLAMA_SERVER), a quick side-by-side run and the server stopped on every exit."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.bench.openai_load import Load, LoadGenerator, StreamTiming, Target, summarize

ROOT = Path(__file__).resolve().parent.parent
LLAMA_SERVER = os.environ.get("AIRLOCK_LLAMA_SERVER") or shutil.which("llama-server")
needs_llama_server = pytest.mark.skipif(LLAMA_SERVER is None, reason="llama-server is not built: set "
                                        "$AIRLOCK_LLAMA_SERVER to the binary or put it on PATH")


def airlock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = "import sys; from appliance.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", command, "bench-llama-server", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=env)


def test_load_generator_counts_every_token_of_every_stream(smollm2_path: Path) -> None:
    from appliance.api.chat_prompt import chat_prompt_ids
    from appliance.bench.served import served_appliance
    from appliance.bench.vs_llama_server import chat_messages

    with served_appliance("airlock-test-load-", "fp32", str(smollm2_path)) as (appliance, server):
        model = appliance.model_names()[0]
        messages = [{"role": role, "content": content} for role, content in chat_messages()]
        messages[-1]["content"] = "Request 1. " + messages[-1]["content"]     # each stream is numbered
        prompt = chat_prompt_ids(appliance.models.get(model).tokenizer, messages)
        with LoadGenerator() as generator:
            result = generator.drive(Target(f"{server.url}/v1", model), Load(chat_messages(), 5, streams=3))
    assert (result.streams, result.requests, result.output_tokens) == (3, 3, 15)
    assert result.prompt_tokens == len(prompt)
    assert result.finish_reasons == {"length": 3}
    assert 3 <= result.chunks <= 15
    assert result.output_tokens_per_s == pytest.approx(15 / result.wall_s)
    assert 0 < result.ttft_p50_ms < result.wall_s * 1000 and result.tpot_p50_ms is not None


def test_summary_pools_gaps_and_takes_tokens_from_the_usage() -> None:
    timings = [StreamTiming(10, 4, 4, 0.5, [0.1, 0.1, 0.1], "length"),
               StreamTiming(10, 4, 2, 0.7, [0.3], "length")]      # two tokens per chunk
    result = summarize(timings, 2.0)
    assert (result.output_tokens, result.chunks, result.output_tokens_per_s) == (8, 6, 4.0)
    assert result.ttft_p50_ms == pytest.approx(600) and result.itl_p50_ms == pytest.approx(100)
    assert result.tpot_p50_ms == pytest.approx(100)                  # 0.3 s / 3 tokens on both


def test_a_missing_binary_says_how_to_build_it(smollm2_path: Path, tmp_path: Path) -> None:
    done = airlock("--llama-server", str(tmp_path / "llama-server"), "--model", str(smollm2_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "does not exist" in done.stderr and "llama-cpp-python sdist" in done.stderr
    env = {**os.environ, "PATH": str(tmp_path)}
    done = airlock("--model", str(smollm2_path), env=env)
    assert done.returncode == 2 and "not on PATH" in done.stderr and "--llama-server" in done.stderr


@needs_llama_server
def test_llama_server_is_stopped_however_the_block_ends(smollm2_path: Path) -> None:
    from appliance.bench.llama_server import LlamaServerConfig, llama_server

    config = LlamaServerConfig(Path(LLAMA_SERVER), smollm2_path, threads=1, parallel=2, context=512)
    with pytest.raises(RuntimeError, match="inside"):
        with llama_server(config) as server:
            pid = server.pid
            assert server.url.startswith("http://127.0.0.1:")
            raise RuntimeError("inside")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@needs_llama_server
def test_quick_side_by_side_does_the_same_work_on_both(smollm2_path: Path) -> None:
    done = airlock("--llama-server", LLAMA_SERVER, "--model", str(smollm2_path), "--precisions", "int8",
                   "--quick", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    loads = {(row["system"], row["result"]["streams"]): row for row in report["loads"]}
    assert set(loads) == {(system, n) for system in ("llama.cpp", "airlock") for n in (1, 4)}
    for (system, streams), row in loads.items():
        assert row["result"]["output_tokens"] == streams * 8, (system, streams)
        assert row["result"]["finish_reasons"] == {"length": streams}
    for n in (1, 4):
        airlock_row, llama_row = loads["airlock", n], loads["llama.cpp", n]
        assert airlock_row["airlock_ratio"] == pytest.approx(airlock_row["result"]["output_tokens_per_s"]
                                                             / llama_row["result"]["output_tokens_per_s"])
    assert report["cpu_isa"] and report["threads"] == 2
    probes = {p["system"]: p for p in report["probes"]}
    assert set(probes) == {"llama.cpp", "airlock"}
    for probe in probes.values():
        assert probe["prompt_tokens"]["400"] > 5 * probe["prompt_tokens"]["40"]
