"""A DataTable filled from a list of rows (payloads of tui.payloads), keyed by one field,
each column reading one field of the row (or computing its value from the row)."""
from __future__ import annotations

from typing import Any, Callable

from textual.widgets import DataTable

Getter = str | Callable[[Any], Any]                # a field name, or a function of the row
Column = tuple[str, Getter, Callable[[Any], str]]   # (heading, what, formatter)


def value_of(row: Any, getter: Getter) -> Any:
    return getter(row) if callable(getter) else getattr(row, getter)


class RowsTable(DataTable):
    def __init__(self, columns: list[Column], key: Getter = "id", **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.columns_spec = columns
        self.key_field = key
        self.rows_data: dict[str, Any] = {}

    def on_mount(self) -> None:
        for heading, _, _ in self.columns_spec:
            self.add_column(heading)

    def show(self, rows: list[Any]) -> None:
        keep = self.cursor_row
        self.clear()
        self.rows_data = {}
        for index, row in enumerate(rows):
            key = value_of(row, self.key_field)
            key = str(index if key is None else key)
            if key in self.rows_data:       # row keys must be unique; the first keeps the plain one
                key = f"{key}#{index}"
            self.rows_data[key] = row
            self.add_row(*(fmt(value_of(row, getter)) for _, getter, fmt in self.columns_spec), key=key)
        if rows:
            self.move_cursor(row=min(keep, len(rows) - 1))

    @property
    def selected(self) -> Any | None:
        if not self.rows_data or self.cursor_row < 0:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return self.rows_data.get(key)
