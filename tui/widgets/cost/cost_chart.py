"""Cost per day as a bar chart."""
from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot

from tui.figures import first, number


class CostChart(PlotextPlot):
    def show(self, days: list[Any], currency: str) -> None:
        labels = [str(first(d, "day", "date", default="?"))[-5:] for d in days]
        values = [number(first(d, "cost", "total_cost", default=0)) or 0.0 for d in days]
        plt = self.plt
        plt.clear_data()
        plt.title(f"cost per day ({currency})")
        if values:
            plt.bar(labels, values)
        self.refresh()
