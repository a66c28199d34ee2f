"""A memory plan for one model on this machine: the request, the what-if table, the budget."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from engine.planner import ModelShape, Plan, PlanRequest, plan, what_if


@dataclass(frozen=True, slots=True)
class PlanReport:
    model: str | None               # store name, or None for a bare config.json
    architecture: str
    parameters: int
    max_context: int
    device: str
    device_memory: int | None       # None: a device this machine does not have
    budget_bytes: int               # device memory x the budget fraction, or as configured
    free_bytes: int                 # budget less what loaded models reserve
    plan: Plan                      # at the requested quantization
    what_if: list[Plan]             # at every quantization

    @classmethod
    def build(cls, shape: ModelShape, request: PlanRequest, *, model: str | None, device_memory: int | None,
              free_bytes: int) -> PlanReport:
        return cls(model=model, architecture=shape.architecture, parameters=shape.parameters(),
                   max_context=shape.max_context, device=request.device, device_memory=device_memory,
                   budget_bytes=request.budget_bytes, free_bytes=free_bytes,
                   plan=plan(shape, request), what_if=what_if(shape, request))

    @property
    def fits_now(self) -> bool:
        """Whether the requested plan fits in what loaded models leave free."""
        return self.plan.total_bytes <= self.free_bytes

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "fits_now": self.fits_now}
