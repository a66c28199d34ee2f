"""The model manager with the real SmolLM2 (int8, CPU) and a tiny HF llama, in a real store.

The tests share one manager and run in file order: serve, refuse, then unload and load another.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

from appliance.config import Config
from appliance.models.errors import InsufficientMemory, ModelNotLoaded
from appliance.models.manager import ModelManager
from engine import planner
from engine.cpu_isa import cpu_isa
from engine.errors import EngineStopped
from engine.sampling_params import SamplingParams

MiB = 1024**2
DEFAULT = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def manager(tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path, tiny_hf: Path):
    config = Config(data_dir=str(tmp_path_factory.mktemp("data")))
    config.models.default_model_file = str(smollm2_path)
    config.models.device = "cpu"
    config.models.kv_cache_bytes = 32 * MiB
    config.models.memory_budget_bytes = 768 * MiB
    config.models.default_quantization = "int8"     # the fast CPU path; fp32 is the plain default
    manager = ModelManager(config)
    manager.store.import_path(tiny_hf)
    manager.ensure_default()
    yield manager
    manager.shutdown()


def _generate(engine, text: str, max_tokens: int = 8) -> list[int]:
    ids = engine.tokenizer(text)["input_ids"]
    stream = engine.submit(ids, SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True))
    return [t for delta in stream for t in delta.token_ids]


def test_default_model_is_imported_loaded_and_serves(manager: ModelManager) -> None:
    assert DEFAULT in manager.store
    [info] = manager.loaded()
    assert (info.name, info.quantization, info.device) == (DEFAULT, "int8", "cpu")
    assert info.load_seconds > 0 and info.weight_bytes > 0
    tokens = _generate(manager.get(DEFAULT), "The capital of France is")
    assert len(tokens) == 8
    assert manager.ensure_default() == info                 # already there: nothing reloads


def test_estimate_is_within_10_percent_of_what_the_model_holds(manager: ModelManager) -> None:
    [info] = manager.loaded()
    shape = planner.ModelShape.from_config(manager.store.get(DEFAULT).config)
    weights = planner.weight_bytes(shape, "int8", "cpu")
    assert abs(weights - info.weight_bytes) / info.weight_bytes < 0.10
    estimate = weights + manager.config.models.kv_cache_bytes
    held = info.weight_bytes + info.kv_bytes
    assert abs(estimate - held) / held < 0.10
    assert info.reservation >= held                          # the reservation covers it, workspace on top
    assert info.reservation == manager.reservation(DEFAULT, "int8")


def test_too_big_load_is_refused_before_any_weight_moves(manager: ModelManager, smollm2_path: Path) -> None:
    manager.store.import_path(smollm2_path, name="smol-copy")
    before = (manager.loaded(), manager.free_bytes, psutil.Process().memory_info().rss)
    started = time.perf_counter()
    with pytest.raises(InsufficientMemory) as err:
        manager.load("smol-copy", "fp32")
    assert time.perf_counter() - started < 1.0               # a real load takes seconds
    needed = manager.reservation("smol-copy", "fp32")
    assert err.value.needed == needed > err.value.free == manager.free_bytes
    assert err.value.budget == 768 * MiB
    assert f"needs {needed / MiB:,.1f} MiB" in str(err.value) and "of the 768.0 MiB budget is free" in str(err.value)
    after = (manager.loaded(), manager.free_bytes, psutil.Process().memory_info().rss)
    assert after[:2] == before[:2]
    assert after[2] - before[2] < 50 * MiB
    with pytest.raises(ModelNotLoaded):
        manager.get("smol-copy")


def test_bad_requests_are_named(manager: ModelManager) -> None:
    with pytest.raises(ModelNotLoaded, match=rf"'gpt-4' is not loaded \(loaded: {DEFAULT}\)"):
        manager.get("gpt-4")
    with pytest.raises(ValueError, match="quantization must be one of auto, fp32"):
        manager.load(DEFAULT, "int3")
    with pytest.raises(ValueError, match="nf4 needs an NVIDIA GPU"):
        manager.load(DEFAULT, "nf4")
    assert manager.resolve_quantization("auto") == "int8"       # the configured default
    manager.config.models.default_quantization = "auto"
    # CPU: the fastest precision within the quality bound: bf16 with AMX, else full precision
    assert manager.resolve_quantization("auto") == ("bf16" if cpu_isa().has_amx else "fp32")
    manager.config.models.default_quantization = "int8"
    with pytest.raises(ValueError, match="loaded as int8 with its KV cache in int8; unload it first"):
        manager.load(DEFAULT, "fp32")
    with pytest.raises(ValueError, match="kv_dtype must be auto or one of fp32, fp16, bf16, int8, got 'int4'"):
        manager.load(DEFAULT, "int8", "int4")
    with pytest.raises(ValueError, match="fp8 is a planning what-if only"):
        manager.load(DEFAULT, "int8", "fp8")


def test_plan_for_a_stored_model_and_a_bare_config(manager: ModelManager) -> None:
    report = manager.plan(DEFAULT, context_length=1024, concurrency=4)
    assert report.plan.quantization == "int8" and report.plan.kv_dtype == "int8"   # int8 on CPU keeps int8 K/V
    assert report.plan.kv_bytes == 4 * 1024 * 12_240     # 2 x 30 layers x 3 KV heads x (64 + a 4-byte scale)
    assert [p.quantization for p in report.what_if] == list(planner.PRECISIONS)
    assert report.budget_bytes == 768 * MiB and report.free_bytes == manager.free_bytes
    assert report.to_json()["plan"]["fits"] is True
    bare = manager.plan(config=manager.store.get("tiny-llama").config, quantization="fp32")
    assert bare.model is None and bare.parameters == int((manager.store.get("tiny-llama").directory
                                                          / "params.txt").read_text())


def test_unload_then_load_another_without_restart(manager: ModelManager) -> None:
    engine = manager.get(DEFAULT)
    freed = manager.unload(DEFAULT)
    assert manager.loaded() == [] and manager.free_bytes == 768 * MiB
    with pytest.raises(ModelNotLoaded, match=rf"'{DEFAULT}' is not loaded \(loaded: none\)"):
        manager.get(DEFAULT)
    with pytest.raises(EngineStopped):
        engine.submit([1, 2, 3], SamplingParams(max_tokens=2))
    assert freed.name == DEFAULT

    results: list = []
    threads = [threading.Thread(target=lambda: results.append(manager.load("tiny-llama", "fp32")))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == results[1]                          # two callers, one load
    assert [i.name for i in manager.loaded()] == ["tiny-llama"]
    assert len(_generate(manager.get("tiny-llama"), "hello world", max_tokens=4)) == 4
    manager.unload("tiny-llama")
    assert manager.loaded() == []


@pytest.mark.parametrize(("asked", "kv_dtype", "torch_dtype", "bytes_per_token"), [
    ("fp16", "fp16", torch.float16, 23_040),   # 2 (K, V) x 30 layers x 3 KV heads x 64 dims x 2 bytes
    ("auto", "int8", torch.int8, 12_240),      # int8 on CPU: rows of 64 int8 values and a 4-byte scale
])
def test_narrow_kv_cache_holds_more_tokens(manager: ModelManager, asked: str, kv_dtype: str,
                                           torch_dtype: torch.dtype, bytes_per_token: int) -> None:
    fp32 = manager.load(DEFAULT, kv_dtype="fp32")
    fp32_blocks = manager.get(DEFAULT).stats().blocks_total
    manager.unload(DEFAULT)
    info = manager.load(DEFAULT, kv_dtype=asked)
    engine = manager.get(DEFAULT)
    assert (fp32.kv_dtype, info.kv_dtype) == ("fp32", kv_dtype)
    assert engine.runner.kv_cache.dtype == torch_dtype
    assert fp32_blocks == 32 * MiB // (16 * 46_080) == 45            # fp32: 4 bytes a value
    blocks = 32 * MiB // (16 * bytes_per_token)
    assert engine.stats().blocks_total == blocks > 2 * fp32_blocks - 2
    assert info.kv_bytes == blocks * 16 * bytes_per_token and fp32.kv_bytes == 45 * 16 * 46_080
    assert len(_generate(engine, "The capital of France is", max_tokens=6)) == 6
    manager.unload(DEFAULT)
