"""The store's models and the loaded ones, as tables."""
from __future__ import annotations

from typing import Any

from tui.figures import fmt_any, fmt_bytes, fmt_num, number
from tui.widgets.common.table import RowsTable


def millions(value: Any) -> str:
    n = number(value)
    return f"{n / 1e6:,.0f} M" if n else fmt_any(value)


class StoreTable(RowsTable):
    """Rows: tui.payloads.StoreEntry"""

    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("model", "name", fmt_any),
            ("arch", "architecture", fmt_any),
            ("params", "parameters", millions),
            ("context", "context_length", fmt_any),
            ("format", "format", fmt_any),
            ("size", "size_bytes", fmt_bytes),
            ("loaded", lambda entry: entry.loaded is not None, fmt_any),
        ], key="name", **kwargs)


class LoadedTable(RowsTable):
    """Rows: tui.payloads.LoadedModel"""

    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("model", "name", fmt_any),
            ("quantization", "quantization", fmt_any),
            ("device", "device", fmt_any),
            ("weights", "weight_bytes", fmt_bytes),
            ("KV cache", "kv_bytes", fmt_bytes),
            ("reserved", "reservation", fmt_bytes),
            ("load time", "load_seconds", lambda v: f"{fmt_num(v)} s" if v is not None else "-"),
        ], key="name", **kwargs)
