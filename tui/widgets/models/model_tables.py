"""The store's models and the loaded ones, as tables."""
from __future__ import annotations

from typing import Any

from tui.figures import fmt_any, fmt_bytes, fmt_num, number
from tui.widgets.common.table import RowsTable


def files_size(files: Any) -> str:
    """A store entry's size: the sum of its files."""
    if not isinstance(files, list):
        return fmt_bytes(files)
    return fmt_bytes(sum(number(f.get("size")) or 0 for f in files if isinstance(f, dict)))


def millions(value: Any) -> str:
    n = number(value)
    return f"{n / 1e6:,.0f} M" if n else fmt_any(value)


class StoreTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("model", "name|model", fmt_any),
            ("arch", "architecture|arch", fmt_any),
            ("params", "parameters", millions),
            ("context", "context_length", fmt_any),
            ("format", "format", fmt_any),
            ("size", "files|size_bytes|size", files_size),
            ("loaded", "loaded", fmt_any),
        ], key="name", **kwargs)


class LoadedTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("model", "name|model", fmt_any),
            ("quantization", "quantization", fmt_any),
            ("device", "device", fmt_any),
            ("weights", "weight_bytes|weights_bytes", fmt_bytes),
            ("KV cache", "kv_bytes|kv_cache_bytes", fmt_bytes),
            ("reserved", "reservation|memory_bytes", fmt_bytes),
            ("load time", "load_seconds", lambda v: f"{fmt_num(v)} s" if v is not None else "-"),
        ], key="name", **kwargs)
