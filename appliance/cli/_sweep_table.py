"""A sweep as a text table: one row per point, Pareto points starred."""
from __future__ import annotations

from engine.bench.report import seconds


def sweep_table(record) -> str:
    head = ["streams", "seqs", "budget", "chunk", "out tok/s", "TTFT p50", "TTFT p95", "ITL p50", "ITL p95",
            "KV peak", f"{record.currency}/1M out", "Pareto"]
    rows = [[str(p.concurrency), str(p.setting.max_num_seqs), str(p.setting.max_num_batched_tokens),
             str(p.setting.max_prefill_chunk or "-"), f"{p.output_tokens_per_s:.1f}", seconds(p.ttft_p50_s),
             seconds(p.ttft_p95_s), seconds(p.itl_p50_s), seconds(p.itl_p95_s),
             f"{p.kv_peak_usage:.0%} ({p.kv_peak_mib:.0f} MiB)",
             "-" if p.cost_per_million_output is None else f"{p.cost_per_million_output:.2f}",
             "*" if p.pareto else ""] for p in record.points]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    title = (f"airlock bench sweep: {record.model} ({record.quantization}), {record.workload}\n"
             f"setup: {record.setup}")
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in [head] + rows]
    return "\n".join([title, ""] + lines)
