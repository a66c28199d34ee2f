"""The frontier as a chart: output tok/s against p95 ITL for every point of the latest sweep, the
Pareto points joined, cost per 1M output tokens as labels, the chosen and the live point marked."""
from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from tui.payloads import FrontierPoint, SloLive

Point = FrontierPoint | SloLive     # a sweep's point, or where the server is now


def _xy(point: Point) -> tuple[float, float] | None:
    itl, rate = point.itl_p95_s, point.output_tokens_per_s
    return None if itl is None or rate is None else (itl * 1000, rate)


class FrontierChart(PlotextPlot):
    def show(self, points: list[FrontierPoint], chosen: FrontierPoint | None, live: SloLive | None,
             currency: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title("throughput vs p95 inter-token latency")
        plt.xlabel("p95 ITL (ms)")
        plt.ylabel("out tok/s")
        self._points(plt, [p for p in points if not p.pareto], "point", "dot")
        line = sorted((p for p in points if p.pareto and _xy(p)), key=lambda p: _xy(p)[0])
        if line:
            plt.plot(*zip(*map(_xy, line)), marker="braille", label="frontier")
            for p in line:
                cost = p.cost_per_million_output
                if cost is not None:
                    plt.text(f"{cost:.2f} {currency}/1M" if cost < 10 else f"{cost:.0f} {currency}/1M", *_xy(p))
        self._points(plt, [chosen] if chosen else [], "chosen", "x")
        self._points(plt, [live] if live else [], "live now", "@")
        self.refresh()

    @staticmethod
    def _points(plt: Any, points: list[Point], label: str, marker: str) -> None:
        xy = [_xy(p) for p in points if _xy(p)]
        if xy:
            plt.scatter(*zip(*xy), marker=marker, label=label)
