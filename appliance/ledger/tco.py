"""Total cost of ownership: pure functions over TcoInputs and a measured UsageWindow.

cost per hour owned = (price - residual) / (years x 8760)          capital
                    + power_kw x PUE x price_per_kwh x utilisation  energy
                    + operations_per_month / 730                    operations

Over a window of H hours with busy (compute) seconds B, the measured utilisation is
u = B / (H x 3600), the window costs cost_per_hour(u) x H, of which (1 - u) is idle. The window
cost is split between input and output tokens by the time spent on each (prefill vs decode);
cost per million input tokens counts only prompt tokens actually computed (not cached), and
cached prompt tokens are valued at that rate as savings.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

HOURS_PER_YEAR = 8760
HOURS_PER_MONTH = 730
MILLION = 1_000_000


class InvalidTco(ValueError):
    """A TCO input is out of range; the message names it."""


@dataclass(slots=True)
class TcoInputs:
    hardware_price: float
    amortization_years: float
    residual_value: float
    power_watts: float
    price_per_kwh: float
    pue: float
    operations_per_month: float
    utilisation: float = 0.5            # share of the hour the machine draws full power
    currency: str = "USD"

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "currency":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidTco(f"{f.name} must be a finite non-negative number, got {value!r}")
            setattr(self, f.name, float(value))
        if self.amortization_years <= 0:
            raise InvalidTco(f"amortization_years must be positive, got {self.amortization_years}")
        if self.residual_value > self.hardware_price:
            raise InvalidTco(f"residual_value ({self.residual_value}) exceeds hardware_price ({self.hardware_price})")
        if self.pue < 1:
            raise InvalidTco(f"pue must be at least 1, got {self.pue}")
        if self.utilisation > 1:
            raise InvalidTco(f"utilisation must be between 0 and 1, got {self.utilisation}")
        if not isinstance(self.currency, str) or not 1 <= len(self.currency) <= 8:
            raise InvalidTco(f"currency must be a short code such as USD, got {self.currency!r}")

    @classmethod
    def from_mapping(cls, data: object) -> TcoInputs:
        if hasattr(data, "__dataclass_fields__"):
            data = {f.name: getattr(data, f.name) for f in fields(data)}
        if hasattr(data, "model_dump"):          # appliance.config.TcoSettings
            data = data.model_dump()
        if not isinstance(data, dict):
            raise InvalidTco("TCO inputs must be an object of named figures")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidTco(f"unknown TCO input(s): {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidTco(f"missing TCO input: {exc}") from exc

    def to_dict(self) -> dict:
        return asdict(self)


def capital_per_hour(inputs: TcoInputs) -> float:
    return (inputs.hardware_price - inputs.residual_value) / (inputs.amortization_years * HOURS_PER_YEAR)


def energy_per_hour(inputs: TcoInputs, utilisation: float) -> float:
    return inputs.power_watts / 1000 * inputs.pue * inputs.price_per_kwh * utilisation


def operations_per_hour(inputs: TcoInputs) -> float:
    return inputs.operations_per_month / HOURS_PER_MONTH


def cost_per_hour_owned(inputs: TcoInputs, utilisation: float | None = None) -> float:
    u = inputs.utilisation if utilisation is None else utilisation
    return capital_per_hour(inputs) + energy_per_hour(inputs, u) + operations_per_hour(inputs)


def cost_of_compute(inputs: TcoInputs, compute_seconds: float) -> float:
    """A request's cost: its compute seconds at the cost per hour owned."""
    return cost_per_hour_owned(inputs) * compute_seconds / 3600


@dataclass(slots=True)
class UsageWindow:
    """Measured totals over a period of `hours` wall-clock hours."""
    hours: float
    requests: int = 0
    busy_seconds: float = 0.0           # sum of compute seconds
    prefill_seconds: float = 0.0        # sum over requests of (ttft - queue time)
    decode_seconds: float = 0.0         # sum over requests of (duration - ttft)
    input_tokens: int = 0               # prompt tokens, cached ones included
    cached_tokens: int = 0
    output_tokens: int = 0

    @property
    def utilisation(self) -> float:
        return min(1.0, self.busy_seconds / (self.hours * 3600)) if self.hours > 0 else 0.0


@dataclass(slots=True)
class CloudPrice:
    provider: str
    model: str
    input_per_million: float
    output_per_million: float
    currency: str
    price_date: str
    source: str


@dataclass(slots=True)
class CloudComparison:
    provider: str
    model: str
    price_date: str
    source: str
    cloud_cost: float                   # the window's tokens at this list price
    on_prem_cost: float                 # the window's cost owned
    savings: float                      # cloud - on-prem (negative: the cloud was cheaper)


@dataclass(slots=True)
class TcoReport:
    inputs: TcoInputs
    window: UsageWindow
    capital_per_hour: float
    energy_per_hour: float
    operations_per_hour: float
    cost_per_hour_owned: float          # at the measured utilisation
    window_cost: float
    idle_cost: float
    cost_per_million_input: float | None
    cost_per_million_output: float | None
    cached_savings: float
    cloud: list[CloudComparison] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["measured_utilisation"] = self.window.utilisation
        return data


def tco_report(inputs: TcoInputs, window: UsageWindow, prices: list[CloudPrice]) -> TcoReport:
    u = window.utilisation
    hourly = cost_per_hour_owned(inputs, u)
    window_cost = hourly * window.hours
    input_cost, output_cost = split_by_time(window_cost, window.prefill_seconds, window.decode_seconds)
    per_m_input = _per_million(input_cost, window.input_tokens - window.cached_tokens)
    return TcoReport(
        inputs=inputs, window=window, capital_per_hour=capital_per_hour(inputs),
        energy_per_hour=energy_per_hour(inputs, u), operations_per_hour=operations_per_hour(inputs),
        cost_per_hour_owned=hourly, window_cost=window_cost, idle_cost=window_cost * (1 - u),
        cost_per_million_input=per_m_input,
        cost_per_million_output=_per_million(output_cost, window.output_tokens),
        cached_savings=window.cached_tokens * (per_m_input or 0.0) / MILLION,
        cloud=[compare_with_cloud(p, window, window_cost) for p in prices])


def split_by_time(cost: float, prefill_seconds: float, decode_seconds: float) -> tuple[float, float]:
    total = prefill_seconds + decode_seconds
    if total <= 0:
        return cost / 2, cost / 2
    return cost * prefill_seconds / total, cost * decode_seconds / total


def _per_million(cost: float, tokens: int) -> float | None:
    return cost / tokens * MILLION if tokens > 0 else None


def compare_with_cloud(price: CloudPrice, window: UsageWindow, on_prem_cost: float) -> CloudComparison:
    cloud = (window.input_tokens * price.input_per_million
             + window.output_tokens * price.output_per_million) / MILLION
    return CloudComparison(provider=price.provider, model=price.model, price_date=price.price_date,
                           source=price.source, cloud_cost=cloud, on_prem_cost=on_prem_cost,
                           savings=cloud - on_prem_cost)
