"""`airlock bench-llamacpp`: Airlock's engine and llama.cpp side by side, one stream, one run.

The same GGUF file, the same chat prompt, greedy, the same thread count. llama.cpp (through
llama-cpp-python, an optional benchmark dependency: `pip install llama-cpp-python`) runs the
file in its own quantization (Q4_1 for the embedded SmolLM2: 4-bit blocks, its AVX-512/VNNI
dot products); Airlock runs it at each precision asked. Single stream is the case llama.cpp is
built for and where both are bound by reading the weights once per token; batching is where
they differ by design, and the other benchmarks measure that against transformers.

Each system generates max_tokens tokens with end-of-sequence ignored, so both do the same work;
time to first token and the decode rate after it are reported separately.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.bench.airlock import engine_config
from engine.bench.common import Machine, Report, ratio
from engine.llm_engine import Engine
from engine.loader import load_hf, wrap
from engine.sampling_params import SamplingParams
from engine.short_thread import in_short_thread

QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."


@dataclass(slots=True)
class StreamResult:
    system: str
    precision: str
    ttft_ms: float
    decode_tokens_per_s: float         # tokens after the first, over the time after the first
    itl_p50_ms: float
    tokens: int


@dataclass(slots=True)
class LlamaCppReport(Report):
    model: str
    machine: Machine
    max_tokens: int
    results: list[StreamResult] = field(default_factory=list)

    def table_title(self) -> list[str]:
        return [f"model {self.model}, one stream x {self.max_tokens} tokens, greedy",
                f"machine: {self.machine.line()}",
                f"{'system':<10} {'precision':<9} {'TTFT ms':>8} {'decode tok/s':>13} {'ITL p50 ms':>11} "
                f"{'vs llama.cpp':>13}"]

    def table_rows(self) -> list[str]:
        reference = next((r for r in self.results if r.system == "llama.cpp"), None)
        rows = []
        for r in self.results:
            against = ratio(r.decode_tokens_per_s, reference.decode_tokens_per_s if reference else None)
            rows.append(f"{r.system:<10} {r.precision:<9} {r.ttft_ms:>8.1f} {r.decode_tokens_per_s:>13.1f} "
                        f"{r.itl_p50_ms:>11.1f} {f'{against:.2f}x' if against else '-':>13}")
        return rows


def run_llamacpp_bench(path: Path, precisions: list[str], max_tokens: int = 128,
                       llama_batch: int = 512) -> LlamaCppReport:
    """llama_batch: llama.cpp's prompt batch (n_batch); 1 feeds the prompt a token at a time, so its
    TTFT is not comparable then, while the decode rate (one token per step either way) is."""
    threads = torch.get_num_threads()
    report = LlamaCppReport(path.name, Machine.now(), max_tokens)
    hf_model, tokenizer = load_hf(path, torch.float32)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], add_generation_prompt=True,
                                           tokenize=True, return_dict=True)["input_ids"]
    report.results.append(in_short_thread(lambda: _llama_cpp(path, prompt, max_tokens, threads, llama_batch)))
    for precision in precisions:
        model = wrap(hf_model, tokenizer, path, device=torch.device("cpu"), precision=precision)
        report.results.append(_airlock(model, prompt, max_tokens))
        del model
    return report


def _llama_cpp(path: Path, prompt: list[int], max_tokens: int, threads: int, batch: int) -> StreamResult:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=len(prompt) + max_tokens + 16, n_threads=threads,
                n_threads_batch=threads, n_batch=batch, verbose=False)
    _llama_generate(llm, prompt[:16], 4)                               # warm-up
    times = _llama_generate(llm, prompt, max_tokens)
    return _result("llama.cpp", _gguf_type(path), times)


def _llama_generate(llm: Any, prompt: list[int], max_tokens: int) -> list[float]:
    """Seconds from the call to each generated token; greedy. generate() does not stop at EOS."""
    start, times = time.monotonic(), []
    for _ in llm.generate(prompt, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        times.append(time.monotonic() - start)
        if len(times) >= max_tokens:
            break
    return times


def _airlock(model: Any, prompt: list[int], max_tokens: int) -> StreamResult:
    engine = Engine(model, engine_config(model, [prompt], max_tokens))
    try:
        engine.submit(prompt[:16], SamplingParams(max_tokens=4, temperature=0.0, ignore_eos=True)).collect()
        stream = engine.submit(prompt, SamplingParams(max_tokens=max_tokens, temperature=0.0, ignore_eos=True))
        stream.collect()
    finally:
        engine.shutdown()
    ttft = stream.metrics.ttft or 0.0
    itls = list(stream.metrics.inter_token_latencies)
    times = [ttft]
    for gap in itls:
        times.append(times[-1] + gap)
    return _result("airlock", model.precision, times)


def _result(system: str, precision: str, times: list[float]) -> StreamResult:
    gaps = [b - a for a, b in zip(times, times[1:])]
    decode = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
    return StreamResult(system, precision, times[0] * 1000, decode,
                        statistics.median(gaps) * 1000 if gaps else 0.0, len(times))


def _gguf_type(path: Path) -> str:
    """The quantization named in a GGUF file name (SmolLM2-135M-Instruct.Q4_1.gguf -> Q4_1)."""
    stem = path.stem
    return stem.rsplit(".", 1)[-1] if "." in stem else "gguf"
