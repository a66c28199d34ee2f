"""The GPU check: Airlock's CUDA path against transformers and against the hardware's floor.

Runs where no registry and no model file can be reached (the GPU test machine): models are
built from their config with seeded random weights and saved as Hugging Face folders, which
the engine loads like any imported model. Speed and memory do not depend on the weights'
values; correctness is the engine against transformers `generate` on the same weights.

Assumptions, stated once:
- greedy equality is exact token equality; with random weights the logits of two tokens can
  tie to within fp16/bf16 rounding, so a mismatch is reported with its position and the gap
  between the two tokens' logits, and judged by the reader, not hidden;
- a decode step reads every weight once and each sequence's KV once: its floor is those bytes
  over the measured device-to-device bandwidth (a copy counts bytes read plus written);
- the planner's estimate is compared with torch.cuda.max_memory_allocated after the engine has
  run its largest batch (weights + KV pool + activations).

`--device cpu --tiny` runs every step on a tiny shape, so the script is exercised in CI.
Results: one JSON file (and the log the wrapper keeps) under --out.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

from engine import planner
from engine.config import CachePolicy, EngineConfig
from engine.llm_engine import Engine
from engine.loader import load_model
from engine.model_runner import ModelRunner
from engine.sampling_params import SamplingParams

BLOCK = 16
SHAPES: dict[str, dict[str, Any]] = {
    # SmolLM2-135M's own shape; the 8B shape is Llama-3-8B's with SmolLM2's vocabulary, so both
    # use the one tokenizer that travels with the check
    "smollm2-135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True),
    "llama-8b-shape": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                           num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=False),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True),
}
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def build_model(shape: str, tokenizer_dir: Path, dest: Path, seed: int = 0) -> Path:
    """A seeded random-weight Llama of `shape`, saved with the carried tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=8192, rope_theta=100000.0,
                         rms_norm_eps=1e-5, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, **SHAPES[shape])
    torch.manual_seed(seed)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer.save_pretrained(dest)
    return dest


def prompts_for(tokenizer: Any, count: int) -> list[list[int]]:
    topics = ["the harbour", "a new vaccine", "the annual budget", "river floods", "solar panels",
              "the library", "night trains", "a chess match"]
    return [tokenizer(f"Write a short note about {topics[i % len(topics)]} number {i}.").input_ids
            for i in range(count)]


def engine_tokens(model: Any, prompts: list[list[int]], max_tokens: int, graphs: bool = False) -> list[list[int]]:
    context = max(map(len, prompts)) + max_tokens + 8
    engine = Engine(model, engine_config(model, len(prompts), context, graphs))
    try:
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
        streams = [engine.submit(p, params) for p in prompts]
        return [s.collect()[0].token_ids for s in streams]
    finally:
        engine.shutdown()


def engine_config(model: Any, concurrency: int, context: int, graphs: bool = False) -> EngineConfig:
    blocks = concurrency * math.ceil(context / BLOCK) + 8
    return EngineConfig(block_size=BLOCK, kv_cache_bytes=blocks * ModelRunner.kv_bytes_per_block(model, BLOCK),
                        max_num_seqs=max(concurrency, 1), max_num_batched_tokens=max(2048, concurrency),
                        max_waiting=concurrency + 8, cache=CachePolicy(enabled=False), cuda_graphs=graphs)


@torch.inference_mode()
def reference_tokens(hf: Any, prompt: list[int], max_tokens: int) -> tuple[list[int], list[torch.Tensor]]:
    """transformers' greedy continuation and the logits of each step."""
    ids = torch.tensor([prompt], device=hf.device)
    out = hf.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                      do_sample=False, eos_token_id=-1, pad_token_id=0, output_scores=True,
                      return_dict_in_generate=True)
    return out.sequences[0, len(prompt):].tolist(), [s[0].float().cpu() for s in out.scores]


def compare(engine: list[int], reference: list[int], scores: list[torch.Tensor]) -> dict[str, Any]:
    """Equal, or where the two diverge and by how much the reference preferred its own token."""
    for i, (a, b) in enumerate(zip(engine, reference)):
        if a != b:
            return {"equal": False, "first_mismatch": i, "logit_gap": float(scores[i][b] - scores[i][a])}
    return {"equal": len(engine) == len(reference)}


def check_greedy(path: Path, device: str, dtype: str, batch: int, max_tokens: int,
                 graphs: bool = False) -> dict[str, Any]:
    model = load_model(path, device=device, precision=dtype)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(device).eval()
    prompts = prompts_for(model.tokenizer, batch)
    ours = engine_tokens(model, prompts, max_tokens, graphs)
    results = [compare(o, *reference_tokens(hf, p, max_tokens)) for o, p in zip(ours, prompts)]
    del hf, model
    return {"dtype": dtype, "batch": batch, "cuda_graphs": graphs, "equal": sum(r["equal"] for r in results),
            "of": len(results),
            "mismatches": [r for r in results if not r["equal"]][:8]}


def device_bandwidth(device: str, megabytes: int = 1024) -> float:
    """Bytes per second of a device-to-device copy, read plus written (median of 10)."""
    src = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device).random_()
    dst = torch.empty_like(src)
    times = []
    for _ in range(13):
        _sync(device)
        start = time.perf_counter()
        dst.copy_(src)
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * src.numel() / statistics.median(times[3:])


def check_decode(path: Path, device: str, dtype: str, concurrency: int, max_tokens: int,
                 bandwidth: float, graphs: bool = False) -> dict[str, Any]:
    """Median step time of pure decode at `concurrency` against the bytes-over-bandwidth floor."""
    model = load_model(path, device=device, precision=dtype)
    prompts = prompts_for(model.tokenizer, concurrency)
    context = max(map(len, prompts)) + max_tokens
    _reset_peak(device)
    engine = Engine(model, engine_config(model, concurrency, context + 8, graphs))
    try:
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True)
        start = time.perf_counter()
        streams = [engine.submit(p, params) for p in prompts]
        for s in streams:
            s.collect()
        wall = time.perf_counter() - start
    finally:
        engine.shutdown()
    gaps = [g for s in streams for g in s.metrics.inter_token_latencies]
    step = statistics.median(gaps)
    weights = sum(t.numel() * t.element_size() for t in model.module.state_dict().values())
    kv_read = concurrency * (context / 2) * ModelRunner.kv_bytes_per_block(model, 1)  # mean context
    floor = (weights + kv_read) / (bandwidth / 2)          # bandwidth counts read + write; a step only reads
    return {"dtype": dtype, "concurrency": concurrency, "cuda_graphs": graphs, "step_ms": step * 1e3, "floor_ms": floor * 1e3,
            "over_floor": step / floor, "tokens_per_s": concurrency * max_tokens / wall,
            "peak_bytes": _peak(device), "weight_bytes": weights}


def check_planner(path: Path, device: str, dtype: str, concurrency: int, context: int) -> dict[str, Any]:
    """The planner's total against what the device really allocated for the same engine."""
    config = json.loads((path / "config.json").read_text())
    shape = planner.ModelShape.from_config(config)
    request = planner.PlanRequest(quantization=dtype, kv_dtype=dtype, context_length=context,
                                  concurrency=concurrency, device=device, block_size=BLOCK)
    estimate = planner.plan(shape, request)
    _reset_peak(device)
    model = load_model(path, device=device, precision=dtype)
    engine = Engine(model, engine_config(model, concurrency, context))
    try:
        prompts = prompts_for(model.tokenizer, concurrency)
        params = SamplingParams(max_tokens=8, temperature=0.0, ignore_eos=True)
        for s in [engine.submit(p, params) for p in prompts]:
            s.collect()
    finally:
        engine.shutdown()
    peak = _peak(device)
    return {"dtype": dtype, "estimate_bytes": estimate.total_bytes, "allocated_bytes": peak,
            "estimate_over_allocated": estimate.total_bytes / peak if peak else None}


def check_nvml() -> dict[str, Any]:
    from appliance.doctor.hardware import probe_gpus
    probe = probe_gpus()
    return {"gpus": list(probe.gpus), "error": probe.error}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> int:
    return torch.cuda.max_memory_allocated() if device.startswith("cuda") else 0


def run_step(results: dict[str, Any], name: str, step: Callable[[], Any]) -> None:
    """Runs one step; a failure is recorded with its traceback and the next step still runs."""
    start = time.perf_counter()
    try:
        results[name] = step()
    except Exception as exc:  # the check reports every failure, it does not stop at the first
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print(f"{name}: {time.perf_counter() - start:.1f} s: {json.dumps(results[name], default=str)[:400]}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True, help="folder with SmolLM2's tokenizer files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes only (a CPU run of the script)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    small, large = ("tiny", "tiny") if args.tiny else ("smollm2-135m", "llama-8b-shape")
    dtypes = ["fp32"] if args.device == "cpu" else ["fp16", "bf16"]
    batch, tokens = (4, 8) if args.tiny else (32, 64)
    results: dict[str, Any] = {"device": args.device, "torch": torch.__version__,
                               "name": torch.cuda.get_device_name() if args.device == "cuda" else "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {s: build_model(s, args.tokenizer, Path(tmp) / s) for s in {small, large}}
        run_step(results, "bandwidth_bytes_per_s", lambda: device_bandwidth(args.device, 64 if args.tiny else 1024))
        bandwidth = results["bandwidth_bytes_per_s"] if isinstance(results["bandwidth_bytes_per_s"], float) else 1e12
        for dtype in dtypes:
            run_step(results, f"greedy_alone_{dtype}", lambda: check_greedy(paths[small], args.device, dtype, 1, tokens))
            run_step(results, f"greedy_batch_{dtype}", lambda: check_greedy(paths[small], args.device, dtype, batch, tokens))
        main_dtype = dtypes[0]
        run_step(results, f"greedy_batch_{main_dtype}_graphs",
                 lambda: check_greedy(paths[small], args.device, main_dtype, batch, tokens, graphs=True))
        run_step(results, "planner", lambda: check_planner(paths[small], args.device, main_dtype, batch, 512))
        for shape in dict.fromkeys((small, large)):
            for c in ((1, 4) if args.tiny else (1, 32, 128)):
                run_step(results, f"decode_{shape}_c{c}",
                         lambda: check_decode(paths[shape], args.device, main_dtype, c, tokens, bandwidth))
                if args.device == "cuda":
                    run_step(results, f"decode_{shape}_c{c}_graphs",
                             lambda: check_decode(paths[shape], args.device, main_dtype, c, tokens, bandwidth, True))
        run_step(results, "nvml", check_nvml)
    (args.out / "gpu-check.json").write_text(json.dumps(results, indent=2, default=str))
    failed = [k for k, v in results.items() if isinstance(v, dict) and "traceback" in v]
    print(f"wrote {args.out / 'gpu-check.json'}; steps failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
