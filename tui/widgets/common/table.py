"""A DataTable filled from a list of JSON rows, keyed by one field, columns picked by name."""
from __future__ import annotations

from typing import Any, Callable

from textual.widgets import DataTable

from tui.figures import first

Column = tuple[str, str, Callable[[Any], str]]   # (heading, field path, formatter)


class RowsTable(DataTable):
    def __init__(self, columns: list[Column], key: str = "id", **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.columns_spec = columns
        self.key_field = key
        self.rows_data: dict[str, dict] = {}

    def on_mount(self) -> None:
        for heading, _, _ in self.columns_spec:
            self.add_column(heading)

    def show(self, rows: list[dict]) -> None:
        keep = self.cursor_row
        self.clear()
        self.rows_data = {}
        for index, row in enumerate(rows):
            key = str(first(row, *self.key_field.split("|"), "id", "name", default=index))
            if key in self.rows_data:       # row keys must be unique; the first keeps the plain one
                key = f"{key}#{index}"
            self.rows_data[key] = row
            self.add_row(*(fmt(first(row, *path.split("|"))) for _, path, fmt in self.columns_spec), key=key)
        if rows:
            self.move_cursor(row=min(keep, len(rows) - 1))

    @property
    def selected(self) -> dict | None:
        if not self.rows_data or self.cursor_row < 0:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return self.rows_data.get(key)
