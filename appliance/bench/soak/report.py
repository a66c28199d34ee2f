"""SoakReport: the checks as a table (or JSON), with what the clients sent and the CPU line."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass, field

from appliance.bench.soak.checks import Check
from appliance.bench.soak.tally import Attempt
from engine.bench.common import Report


@dataclass(slots=True)
class SoakReport(Report):
    minutes: float
    checks: list[Check]
    attempts: list[Attempt]
    load_seconds: list[float]          # the first start and the restart, to /ready
    wall_seconds: float
    isa: str                           # the server's CPU line (its /admin/stats)
    load_average: tuple[float, float, float] = field(default_factory=os.getloadavg)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def traffic(self) -> dict[str, dict[str, int]]:
        """Per kind of request: sent, accepted, completed, refused (4xx), cut."""
        out: dict[str, Counter] = {}
        for a in self.attempts:
            row = out.setdefault(a.kind, Counter())
            row.update(sent=1, accepted=a.accepted, completed=a.completed, cut=a.cut,
                       refused=400 <= (a.status or 0) < 500)
        return {kind: {k: row[k] for k in ("sent", "accepted", "completed", "refused", "cut")}
                for kind, row in sorted(out.items())}

    def table_title(self) -> list[str]:
        return [f"airlock bench soak: {self.minutes:g} min of traffic, kill -9 and restart part way; {self.isa}; "
                f"load average {self.load_average[0]:.1f} at the end"]

    def table_rows(self) -> list[str]:
        width = max(len("check"), *(len(c.name) for c in self.checks))
        value_width = max(len("value"), *(len(c.value) for c in self.checks))
        bound_width = max(len("bound"), *(len(c.bound) for c in self.checks))
        lines = [f"{'check':<{width}}  {'value':<{value_width}}  {'bound':<{bound_width}}  result"]
        for c in self.checks:
            verdict = "pass" if c.ok else "FAIL"
            lines.append(f"{c.name:<{width}}  {c.value:<{value_width}}  {c.bound:<{bound_width}}  {verdict}")
            if c.detail:
                lines.append(f"  {c.detail}")
        return lines

    def table_notes(self) -> list[str]:
        lines = ["traffic: " + "; ".join(f"{kind} {row['sent']} sent/{row['accepted']} accepted/"
                                         f"{row['completed']} done/{row['refused']} 4xx/{row['cut']} cut"
                                         for kind, row in self.traffic().items())]
        loads = ", ".join(f"{s:.0f} s" for s in self.load_seconds)
        lines.append(f"model loads {loads}; wall {self.wall_seconds:.0f} s; "
                     f"{'all checks passed' if self.ok else 'FAILED'}")
        return lines

    def as_dict(self) -> dict:
        return {"minutes": self.minutes, "ok": self.ok, "isa": self.isa, "load_average": self.load_average,
                "load_seconds": self.load_seconds, "wall_seconds": self.wall_seconds, "traffic": self.traffic(),
                "checks": [asdict(c) for c in self.checks]}
