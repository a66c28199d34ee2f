"""Cost per day as a bar chart."""
from __future__ import annotations

from textual_plotext import PlotextPlot

from tui.payloads import UsageRow


class CostChart(PlotextPlot):
    def show(self, rows: list[UsageRow], currency: str) -> None:
        """`rows`: usage report rows by day (any grouping); their costs are summed per day."""
        per_day: dict[str, float] = {}
        for row in rows:
            day = row.period or "?"
            per_day[day] = per_day.get(day, 0.0) + (row.cost or 0.0)
        labels = [day[-5:] for day in sorted(per_day)][-14:]
        values = [per_day[day] for day in sorted(per_day)][-14:]
        plt = self.plt
        plt.clear_data()
        plt.title(f"cost per day ({currency})")
        if values:
            plt.bar(labels, values)
        self.refresh()
