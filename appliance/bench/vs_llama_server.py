"""`airlock bench-llama-server`: Airlock and llama.cpp's own server side by side, through the API.

Both are driven by the same load generator (appliance/bench/openai_load.py, the official
`openai` client in a process of its own): the same GGUF file, the same chat messages, greedy,
end-of-sequence ignored so every request generates max_tokens tokens, the same threads, loopback
only. llama-server (continuous batching with slots) runs the file in its own quantization (Q4_1
for the embedded SmolLM2); Airlock runs it at each precision asked, served in this process by
served_appliance.

Per system and concurrency: output tokens/s over the wall time of the whole load, TTFT p50,
ITL p50 (gaps between content chunks) and TPOT p50 (per-stream decode time per token), and the
ratio of Airlock's tokens/s to llama.cpp's at the same concurrency. The context probe takes one
stream's ITL with a short (~40-token) and a long (~1,600-token) chat prompt.

Assumptions: llama-server is restarted for each concurrency with exactly that many slots, each
with a KV cache of its own sized for one request (--parallel N, -c N x (prompt + max_tokens)),
the way one would configure it for that load; Airlock is one appliance per precision for every load, as it
is deployed. The streams of a load share the system message and number their user message
("Request <n>."), as real requests share a system prompt and little else, so Airlock's prefix
cache shares only the system message across streams; one short request warms each server
before it is measured. The figures are one run each, as noisy as the machine.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from appliance.bench.llama_server import LlamaServerConfig, llama_server, version
from appliance.bench.openai_load import Load, LoadGenerator, LoadResult, Target
from appliance.bench.served import served_appliance
from engine.bench.common import Machine, Report, at_least, long_over_short, ratio

SYSTEM = "You are a helpful assistant."
QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."
_SENTENCE = "The plant's maintenance log records inspection {n} of the pumps, the pressure held and the parts. "
_SENTENCE_TOKENS = 21           # SmolLM2's tokenizer on one _SENTENCE, about (with the number)
_CHAT_TOKENS = 38               # the chat prompt (template, system message, QUESTION) and the break
PROMPT_BUDGET = 64              # KV tokens a chat prompt may take on llama-server (it is ~40)


@dataclass(slots=True, frozen=True)
class SideBySideConfig:
    llama_server: Path
    model: Path
    precisions: tuple[str, ...] = ("bf16", "int8")
    streams: tuple[int, ...] = (1, 32, 128)
    max_tokens: int = 64
    context_probe: bool = True
    probe_contexts: tuple[int, ...] = (40, 1600)     # prompt tokens, about
    threads: int = 2

    def __post_init__(self) -> None:
        at_least(self, 1, "max_tokens", "threads")
        if not self.streams or min(self.streams) < 1:
            raise ValueError(f"streams must be integers of at least 1, got {self.streams!r}")
        if self.context_probe and (not self.probe_contexts or min(self.probe_contexts) < _CHAT_TOKENS):
            raise ValueError(f"probe contexts must be at least {_CHAT_TOKENS} tokens, got {self.probe_contexts!r}")

    def quick(self) -> SideBySideConfig:
        """1 and 4 streams of 8 tokens; the probe at ~40 and ~400 tokens."""
        return replace(self, streams=(1, 4), max_tokens=8, probe_contexts=(40, 400))


@dataclass(slots=True)
class LoadRow:
    system: str                  # llama.cpp | airlock
    precision: str               # the GGUF's quantization for llama.cpp
    result: LoadResult


@dataclass(slots=True)
class ProbeRow:
    system: str
    precision: str
    prompt_tokens: dict[int, int]     # asked context -> the prompt tokens the server counted
    itl_p50_ms: dict[int, float]      # asked context -> ITL p50

    @property
    def growth(self) -> float | None:
        """ITL at the longest context over ITL at the shortest."""
        return long_over_short(self.itl_p50_ms)


@dataclass(slots=True)
class SideBySideReport(Report):
    model: str
    machine: Machine
    llama_server: str                 # its version
    threads: int
    max_tokens: int
    loads: list[LoadRow] = field(default_factory=list)
    probes: list[ProbeRow] = field(default_factory=list)

    def speedup(self, row: LoadRow) -> float | None:
        """Airlock's output tokens/s over llama.cpp's at the same concurrency (>1: Airlock faster)."""
        base = next((r for r in self.loads if r.system == "llama.cpp" and r.result.streams == row.result.streams),
                    None)
        return ratio(row.result.output_tokens_per_s, base.result.output_tokens_per_s if base else None)

    def probe_speedup(self, row: ProbeRow, context: int) -> float | None:
        """llama.cpp's ITL over Airlock's at one context (>1: Airlock faster)."""
        base = next((p for p in self.probes if p.system == "llama.cpp"), None)
        return ratio(base.itl_p50_ms.get(context) if base else None, row.itl_p50_ms.get(context))

    def as_dict(self) -> dict[str, Any]:
        loads = [{**asdict(r), "airlock_ratio": self.speedup(r) if r.system == "airlock" else None}
                 for r in self.loads]
        probes = [{**asdict(p), "growth": p.growth,
                   "airlock_ratio": {c: self.probe_speedup(p, c) for c in p.itl_p50_ms} if p.system == "airlock"
                   else None} for p in self.probes]
        return {"model": self.model, "machine": asdict(self.machine), "cpu_isa": self.machine.cpu_isa,
                "llama_server": self.llama_server, "threads": self.threads, "max_tokens": self.max_tokens,
                "loads": loads, "probes": probes}

    def table_title(self) -> list[str]:
        return [f"model {self.model}; streams x {self.max_tokens} tokens, greedy, EOS ignored; "
                f"{self.threads} threads each; llama-server {self.llama_server}; loopback",
                f"machine: {self.machine.line()}",
                f"{'system':<10} {'precision':<9} {'streams':>7} {'out tok/s':>10} {'TTFT p50 ms':>12} "
                f"{'ITL p50 ms':>11} {'TPOT p50 ms':>12} {'vs llama.cpp':>13}"]

    def table_rows(self) -> list[str]:
        rows = []
        for row in sorted(self.loads, key=lambda r: (r.result.streams, r.system != "llama.cpp")):
            r, against = row.result, self.speedup(row) if row.system == "airlock" else None
            rows.append(f"{row.system:<10} {row.precision:<9} {r.streams:>7} {r.output_tokens_per_s:>10.1f} "
                        f"{r.ttft_p50_ms:>12.1f} {_ms(r.itl_p50_ms):>11} {_ms(r.tpot_p50_ms):>12} "
                        f"{f'{against:.2f}x' if against else '-':>13}")
        return rows + self._probe_rows()

    def _probe_rows(self) -> list[str]:
        if not self.probes:
            return []
        contexts = sorted(self.probes[0].itl_p50_ms)
        lines = ["", "context probe: one stream, ITL p50 ms (n: the prompt tokens the server counted)",
                 f"{'system':<10} {'precision':<9}" + "".join(f"{f'ITL@~{c} (n)':>16}" for c in contexts)
                 + f"{'long/short':>11}" + "".join(f"{f'vs l.cpp@{c}':>14}" for c in contexts)]
        for p in self.probes:
            cells = "".join(f"{f'{p.itl_p50_ms[c]:.1f} ({p.prompt_tokens[c]})':>16}" for c in contexts)
            against = "".join(f"{_ratio(self.probe_speedup(p, c)) if p.system == 'airlock' else '-':>14}"
                              for c in contexts)
            lines.append(f"{p.system:<10} {p.precision:<9}{cells}{_ratio(p.growth):>11}{against}")
        return lines

    def table_notes(self) -> list[str]:
        prompts = {f"{r.system} {r.precision}": r.result.prompt_tokens for r in self.loads if r.result.streams ==
                   min(x.result.streams for x in self.loads)}
        return ["", "vs llama.cpp: Airlock's out tok/s over llama.cpp's at the same streams; in the probe, "
                    "llama.cpp's ITL over Airlock's (>1: Airlock faster)",
                "the streams share the system message and number their user message: Airlock's prefix cache "
                "shares the system message across streams, each llama.cpp slot processes the whole prompt",
                "ITL: gaps between content chunks; TPOT: a stream's decode time per token (they part where a "
                "stream stalls)",
                "chat prompt tokens as each server counted them: "
                + ", ".join(f"{name} {tokens}" for name, tokens in prompts.items())]


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def chat_messages() -> tuple[tuple[str, str], ...]:
    return (("system", SYSTEM), ("user", QUESTION))


def probe_messages(context: int) -> tuple[tuple[str, str], ...]:
    """A chat prompt of about `context` tokens: a maintenance log of numbered sentences, then QUESTION."""
    sentences = max(0, round((context - _CHAT_TOKENS) / _SENTENCE_TOKENS))
    document = "".join(_SENTENCE.format(n=n + 1) for n in range(sentences))
    return (("system", SYSTEM), ("user", f"{document}\n\n{QUESTION}" if document else QUESTION))


def run_side_by_side(config: SideBySideConfig, progress: Callable[[str], None] = lambda line: None
                     ) -> SideBySideReport:
    import torch

    torch.set_num_threads(config.threads)
    report = SideBySideReport(config.model.name, Machine.now(), version(config.llama_server), config.threads,
                              config.max_tokens)
    quantization = _gguf_type(config.model)
    with LoadGenerator() as generator:
        for streams in config.streams:
            progress(f"llama.cpp ({quantization}), {streams} streams")
            with _llama(config, streams, PROMPT_BUDGET + config.max_tokens) as target:
                report.loads.append(LoadRow("llama.cpp", quantization, _measure(generator, target, config, streams)))
        if config.context_probe:
            progress("llama.cpp, context probe")
            with _llama(config, 1, max(config.probe_contexts) + PROMPT_BUDGET + config.max_tokens) as target:
                report.probes.append(_probe(generator, target, config, "llama.cpp", quantization))
        for precision in config.precisions:
            with _airlock(config, precision) as target:
                for streams in config.streams:
                    progress(f"airlock ({precision}), {streams} streams")
                    report.loads.append(LoadRow("airlock", precision, _measure(generator, target, config, streams)))
                if config.context_probe:
                    progress(f"airlock ({precision}), context probe")
                    report.probes.append(_probe(generator, target, config, "airlock", precision))
    return report


@contextmanager
def _llama(config: SideBySideConfig, slots: int, tokens_per_slot: int) -> Iterator[Target]:
    context = slots * (-(-tokens_per_slot // 64) * 64)
    server_config = LlamaServerConfig(config.llama_server, config.model, config.threads, slots, context)
    with llama_server(server_config) as server:
        yield Target(f"{server.url}/v1", server.model)


@contextmanager
def _airlock(config: SideBySideConfig, precision: str) -> Iterator[Target]:
    with served_appliance("airlock-vs-llama-server-", precision, str(config.model)) as (appliance, server):
        yield Target(f"{server.url}/v1", appliance.model_names()[0])


def _measure(generator: LoadGenerator, target: Target, config: SideBySideConfig, streams: int) -> LoadResult:
    generator.drive(target, Load(chat_messages(), 4))                              # warm-up
    return generator.drive(target, Load(chat_messages(), config.max_tokens, streams))


def _probe(generator: LoadGenerator, target: Target, config: SideBySideConfig, system: str,
           precision: str) -> ProbeRow:
    generator.drive(target, Load(probe_messages(min(config.probe_contexts)), 4, distinct=False))   # warm-up
    row = ProbeRow(system, precision, {}, {})
    for context in config.probe_contexts:
        result = generator.drive(target, Load(probe_messages(context), config.max_tokens))
        row.prompt_tokens[context] = result.prompt_tokens
        row.itl_p50_ms[context] = result.itl_p50_ms or 0.0
    return row


def _gguf_type(path: Path) -> str:
    """The quantization named in a GGUF file name (SmolLM2-135M-Instruct.Q4_1.gguf -> Q4_1)."""
    stem = path.stem
    return stem.rsplit(".", 1)[-1] if "." in stem else "gguf"
