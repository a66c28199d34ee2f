"""The sweep's progress bar on stderr (rich): points done, the point just measured, time left.

Time left is estimated from work done (output tokens), not points, since a point at 64
streams costs far more than one at 1."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from engine.bench.frontier import SweepPoint
from engine.bench.sweep import SweepPlan


class SweepProgress:
    def __init__(self, plan: SweepPlan) -> None:
        self.plan = plan
        self.weights = [plan.work(c) for c, _ in plan.grid]
        self._bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[last]}"),
                             TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                             console=Console(file=sys.stderr), transient=False)
        self._task = self._bar.add_task("sweep", total=sum(self.weights), last="loading")
        self._points = 0

    def __enter__(self) -> SweepProgress:
        self._bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._bar.stop()

    def update(self, done: int, total: int, point: SweepPoint | None) -> None:
        if point is None:
            self._bar.update(self._task, last=f"0/{total} points")
            return
        self._bar.update(self._task, completed=sum(self.weights[:done]),
                         last=f"{done}/{total} points, last {point.concurrency} streams "
                              f"{point.output_tokens_per_s:.0f} tok/s")
