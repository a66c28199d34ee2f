"""The frontier drawn: output tok/s against p95 ITL, Pareto points joined, cost per 1M output
tokens as labels. A PNG (matplotlib, headless) and a terminal chart (plotext) show the same."""
from __future__ import annotations

import re
from pathlib import Path

from engine.bench.frontier import SweepPoint

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
X_LABEL, Y_LABEL = "p95 inter-token latency (ms)", "output tokens/s"


def frontier_line(points: list[SweepPoint]) -> list[SweepPoint]:
    """The Pareto points in order of p95 ITL: the curve to draw."""
    return sorted((p for p in points if p.pareto), key=lambda p: p.itl_p95_s or 0.0)


def write_png(points: list[SweepPoint], path: Path, title: str, currency: str = "USD") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    try:
        for concurrency in sorted({p.concurrency for p in points}):
            group = [p for p in points if p.concurrency == concurrency and p.itl_p95_s is not None]
            ax.scatter([_ms(p) for p in group], [p.output_tokens_per_s for p in group], label=f"{concurrency} streams")
        line = frontier_line(points)
        ax.plot([_ms(p) for p in line], [p.output_tokens_per_s for p in line], "k--", lw=1, label="Pareto frontier")
        for p in line:
            if p.cost_per_million_output is not None:
                ax.annotate(f"{p.cost_per_million_output:.2f} {currency}/1M", (_ms(p), p.output_tokens_per_s),
                            textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set(xlabel=X_LABEL, ylabel=Y_LABEL, title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def terminal_chart(points: list[SweepPoint], title: str, width: int = 80, height: int = 20) -> str:
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    others = [p for p in points if not p.pareto and p.itl_p95_s is not None]
    line = frontier_line(points)
    if others:
        plt.scatter([_ms(p) for p in others], [p.output_tokens_per_s for p in others], marker="dot", label="point")
    if line:
        plt.plot([_ms(p) for p in line], [p.output_tokens_per_s for p in line], marker="braille", label="frontier")
        plt.scatter([_ms(p) for p in line], [p.output_tokens_per_s for p in line], marker="x", label="Pareto")
    plt.title(title)
    plt.xlabel(X_LABEL)
    plt.ylabel(Y_LABEL)
    return _ANSI.sub("", plt.build())


def _ms(point: SweepPoint) -> float:
    return (point.itl_p95_s or 0.0) * 1000
