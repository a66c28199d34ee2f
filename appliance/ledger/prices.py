"""The local table of cloud API list prices (cloud_prices.csv): read, never fetched.
An administrator may point the ledger at an edited copy (LedgerSettings.cloud_prices_path)."""
from __future__ import annotations

import csv
import math
from datetime import date
from pathlib import Path

from appliance.ledger.tco import CloudPrice

DEFAULT_PRICES = Path(__file__).with_name("cloud_prices.csv")
COLUMNS = ("provider", "model", "input_per_million", "output_per_million", "currency", "price_date", "source")


class InvalidPriceTable(ValueError):
    """The cloud price table is malformed; the message names the file, line and column."""


def load_cloud_prices(path: str | Path | None = None) -> list[CloudPrice]:
    path = Path(path or DEFAULT_PRICES)
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidPriceTable(f"{path}: missing column(s) {', '.join(missing)}")
            return [_parse(row, path, n) for n, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise InvalidPriceTable(f"cannot read cloud price table {path}: {exc}") from exc


def _parse(row: dict[str, str], path: Path, line: int) -> CloudPrice:
    values = {c: (row.get(c) or "").strip() for c in COLUMNS}
    for name in ("provider", "model", "currency", "source"):
        if not values[name]:
            raise InvalidPriceTable(f"{path} line {line}: {name} is empty")
    try:
        date.fromisoformat(values["price_date"])
    except ValueError:
        raise InvalidPriceTable(f"{path} line {line}: price_date must be YYYY-MM-DD, got {values['price_date']!r}") from None
    prices = {name: _price(values[name], path, line, name) for name in ("input_per_million", "output_per_million")}
    return CloudPrice(provider=values["provider"], model=values["model"], currency=values["currency"],
                      price_date=values["price_date"], source=values["source"], **prices)


def _price(text: str, path: Path, line: int, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidPriceTable(f"{path} line {line}: {name} must be a non-negative number, got {text!r}")
    return value
