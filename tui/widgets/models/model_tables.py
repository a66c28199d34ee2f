"""The store's models and the loaded ones, as tables."""
from __future__ import annotations

from tui.figures import fmt_any, fmt_bytes
from tui.widgets.common.table import RowsTable


class StoreTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("model", "name|model|id", fmt_any),
            ("arch", "arch|architecture", fmt_any),
            ("format", "format|quantization|file_type", fmt_any),
            ("size", "size_bytes|bytes|size", fmt_bytes),
            ("loaded", "loaded", fmt_any),
        ], key="name", **kwargs)


class LoadedTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("model", "name|model", fmt_any),
            ("quantization", "quantization", fmt_any),
            ("device", "device", fmt_any),
            ("weights", "weight_bytes|weights_bytes", fmt_bytes),
            ("KV cache", "kv_cache_bytes|kv_bytes", fmt_bytes),
            ("memory", "memory_bytes|total_bytes", fmt_bytes),
        ], key="name", **kwargs)
