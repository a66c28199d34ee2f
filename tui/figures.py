"""Formatting the figures the screens show. A figure the service did not report (None)
shows as "-" rather than failing (the replies themselves are read in tui.payloads)."""
from __future__ import annotations

from typing import Any

MISSING = "-"


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def fmt_bytes(value: Any) -> str:
    n = number(value)
    if n is None:
        return MISSING
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return MISSING


def fmt_pct(value: Any) -> str:
    """A fraction (0..1) as a percentage."""
    n = number(value)
    return MISSING if n is None else f"{n * 100:.1f}%"


def fmt_seconds(value: Any) -> str:
    n = number(value)
    if n is None:
        return MISSING
    return f"{n * 1000:.0f} ms" if n < 1 else f"{n:.2f} s"


def fmt_num(value: Any, digits: int = 1) -> str:
    n = number(value)
    if n is None:
        return MISSING
    return f"{n:,.0f}" if n == int(n) and digits == 0 else f"{n:,.{digits}f}"


def fmt_money(value: Any, currency: str = "") -> str:
    n = number(value)
    if n is None:
        return MISSING
    text = f"{n:,.4f}" if abs(n) < 1 else f"{n:,.2f}"
    return f"{text} {currency}".strip()


def fmt_any(value: Any) -> str:
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return fmt_num(value, 2)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or MISSING
    return str(value)
