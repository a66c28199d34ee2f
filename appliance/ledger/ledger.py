"""Ledger: the one object the appliance uses to record usage and read reports and TCO."""
from __future__ import annotations

import atexit
import logging
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError

from appliance.config import TcoSettings
from appliance.ledger import database, dead_letter, reports
from appliance.ledger.energy import PowerSampler, PowerSource, default_power_source
from appliance.ledger.models import TcoInputsRow, UsageRow
from appliance.ledger.prices import load_cloud_prices
from appliance.ledger.record import InvalidUsage, UsageRecord
from appliance.ledger.tco import CloudPrice, TcoInputs, TcoReport, cost_per_hour_owned, tco_report
from appliance.ledger.writer import BatchWriter

log = logging.getLogger(__name__)
RECORD_FIELDS = tuple(f.name for f in fields(UsageRecord))
_RECORD_VALUES = attrgetter(*RECORD_FIELDS)
_CREATED, _ENERGY, _COST, _NODE = (RECORD_FIELDS.index(n) for n in ("created_at", "energy_wh", "cost", "node"))
TCO_FIELDS = tuple(f.name for f in fields(TcoInputs))
DEFAULT_TCO_WINDOW = timedelta(days=7)


class Ledger:
    def __init__(self, engine: Engine, *, flush_interval: float, tco_inputs: TcoInputs,
                 sampler: PowerSampler, prices: list[CloudPrice], node: str | None = None) -> None:
        self.engine = engine
        self.node = node   # stamped on rows that name no node
        self.sampler = sampler
        self.prices = prices
        self._tco = tco_inputs
        compiled = insert(UsageRow).compile(dialect=engine.dialect, column_keys=list(RECORD_FIELDS))
        if compiled.positional and tuple(compiled.positiontup) != RECORD_FIELDS:
            raise RuntimeError("usage_records insert binds columns out of UsageRecord order")
        self._insert_sql, self._positional = compiled.string, compiled.positional
        self._db_time = _sqlite_time if engine.dialect.name == "sqlite" else _utc
        self._writer: BatchWriter[UsageRecord] = BatchWriter(self._write, flush_interval=flush_interval)
        self._closed = False
        atexit.register(self.close)

    @classmethod
    def open(cls, database_url: str, *, flush_interval: float = 1.0, tco: TcoSettings | TcoInputs,
             host_watts: float, power_source: PowerSource | None = None,
             cloud_prices_path: str | Path | None = None, node: str | None = None) -> Ledger:
        """Open (creating or upgrading the schema, a SQLite file with data copied aside first)."""
        engine = database.make_engine(database_url)
        copy = database.upgrade(engine)
        if copy:
            log.info("ledger schema upgraded; the previous database was kept at %s", copy)
        inputs = _current_tco(engine) or _seed_tco(engine, TcoInputs.from_mapping(tco))
        sampler = PowerSampler(power_source or default_power_source(host_watts)).start()
        return cls(engine, flush_interval=flush_interval, tco_inputs=inputs, sampler=sampler,
                   prices=load_cloud_prices(cloud_prices_path), node=node)

    # -- write side -------------------------------------------------------------------------

    def record(self, rec: UsageRecord) -> None:
        """Queue one row for the background writer; never waits on the database."""
        if not isinstance(rec, UsageRecord):
            raise InvalidUsage(f"record() takes a UsageRecord, got {type(rec).__name__}")
        self._writer.put(rec)

    def backlog(self) -> int:
        return self._writer.backlog()

    def flush(self, timeout: float | None = None) -> bool:
        return self._writer.flush(timeout)

    def unwritten(self) -> list[UsageRecord]:
        """Rows queued but not committed (see BatchWriter.pending)."""
        return self._writer.pending()

    def close(self, timeout: float | None = None) -> bool:
        """Write every queued row, then stop the writer and the power sampler."""
        if self._closed:
            return True
        self._closed = True
        atexit.unregister(self.close)
        written = self._writer.close(timeout)
        self.sampler.stop()
        self.engine.dispose()
        return written

    def _write(self, batch: list[UsageRecord]) -> None:
        """One transaction for the batch. If the database refuses it for good (not a lock or an
        outage, which the writer retries), write row by row and dead-letter the rows it refuses,
        so one bad row neither blocks the others nor is lost."""
        hourly = cost_per_hour_owned(self._tco)
        rows = [self._row(rec, hourly) for rec in batch]
        try:
            self._insert(rows)
        except OperationalError:
            raise
        except DBAPIError:
            refused = [rec for rec, row in zip(batch, rows) if not self._insert_alone(row)]
            dead_letter.write(refused)

    def _insert(self, rows: list) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._insert_sql, rows)

    def _insert_alone(self, row: tuple | dict) -> bool:
        try:
            self._insert([row])
            return True
        except OperationalError:
            raise
        except DBAPIError as exc:
            log.error("the database refused a usage row: %s", exc)
            return False

    def _row(self, rec: UsageRecord, cost_per_hour: float) -> tuple | dict:
        """The row as DB-API parameters. The writer binds them itself: SQLAlchemy's per-row
        parameter processing costs more than SQLite's insert, and this is the hot path."""
        row = list(_RECORD_VALUES(rec))
        row[_CREATED] = self._db_time(rec.created_at)
        if rec.node is None:
            row[_NODE] = self.node
        if rec.energy_wh is None:
            start = rec.created_at.timestamp()
            row[_ENERGY] = self.sampler.energy_wh(rec.compute_seconds, start, start + rec.duration_seconds)
        if rec.cost is None:
            row[_COST] = cost_per_hour * rec.compute_seconds / 3600    # tco.cost_of_compute
        return tuple(row) if self._positional else dict(zip(RECORD_FIELDS, row))

    # -- read side --------------------------------------------------------------------------

    def tokens_used(self, key_id: str, since: datetime | None = None) -> int:
        """Prompt + completion tokens of `key_id` since `since` (None: ever), written and queued."""
        since = reports.as_utc(since)
        with self._writer.snapshot() as pending:
            with self.engine.connect() as conn:
                written = reports.tokens_used(conn, key_id, since)
        return written + sum(r.total_tokens for r in pending
                             if r.key_id == key_id and (since is None or r.created_at >= since))

    def report(self, period: str = "day", group: str = "key", since: datetime | None = None,
               until: datetime | None = None) -> list[dict]:
        return self._read(reports.usage_report, period, group, since, until)

    def report_csv(self, period: str = "day", group: str = "key", since: datetime | None = None,
                   until: datetime | None = None) -> str:
        return reports.to_csv(self.report(period, group, since, until), reports.report_columns(group))

    def top_consumers(self, n: int = 10, by: str = "tokens", since: datetime | None = None) -> list[dict]:
        return self._read(reports.top_consumers, n, by, since)

    def export_json(self, since: datetime | None = None, until: datetime | None = None, **filters: str | None) -> list[dict]:
        return self._read(reports.export_rows, since, until, **filters)

    def export_csv(self, since: datetime | None = None, until: datetime | None = None, **filters: str | None) -> str:
        return reports.to_csv(self.export_json(since, until, **filters))

    def _read(self, query, *args, **kwargs):
        self.flush(timeout=10)     # a report includes what was recorded before it was asked for
        with self.engine.connect() as conn:
            return query(conn, *args, **kwargs)

    # -- TCO --------------------------------------------------------------------------------

    @property
    def tco_inputs(self) -> TcoInputs:
        return self._tco

    def tco(self, since: datetime | None = None, until: datetime | None = None,
            node: str | None = None) -> TcoReport:
        """TCO figures over [since, until): by default the last 7 days, or since the ledger was
        created if it is younger; of one node's rows when `node` is named."""
        self.flush(timeout=10)
        until = reports.as_utc(until) or datetime.now(UTC)
        since = reports.as_utc(since) or self._default_since(until)
        with self.engine.connect() as conn:
            window = reports.usage_window(conn, since, until, node)
        prices = [p for p in self.prices if p.currency == self._tco.currency]
        return tco_report(self._tco, window, prices)

    def tco_by_node(self, since: datetime | None = None, until: datetime | None = None) -> dict[str, TcoReport]:
        """One TCO report per node that wrote rows in the window, each node a box with the same
        TCO inputs (a fleet of identical appliances)."""
        until = reports.as_utc(until) or datetime.now(UTC)
        since = reports.as_utc(since) or self._default_since(until)
        with self.engine.connect() as conn:
            names = reports.nodes(conn, since, until)
        return {name: self.tco(since, until, name) for name in names}

    def tier_costs(self, since: datetime | None = None, until: datetime | None = None) -> dict:
        """Cost per 1M tokens per tier (model served) and routing's savings over the TCO window."""
        from appliance.ledger.tier_costs import tier_costs
        self.flush(timeout=10)
        until = reports.as_utc(until) or datetime.now(UTC)
        since = reports.as_utc(since) or self._default_since(until)
        with self.engine.connect() as conn:
            return tier_costs(conn, since, until)

    def set_tco(self, inputs: TcoInputs | dict) -> TcoReport:
        """Replace the TCO inputs (kept as a new row, the old ones stay for audit)."""
        merged = {**self._tco.to_dict(), **inputs} if isinstance(inputs, dict) else inputs
        self._tco = _seed_tco(self.engine, TcoInputs.from_mapping(merged))
        return self.tco()

    def _default_since(self, until: datetime) -> datetime:
        """The appliance is owned from its first TCO inputs row (installation) on."""
        with self.engine.connect() as conn:
            firsts = [conn.execute(select(column).order_by(column).limit(1)).scalar()
                      for column in (UsageRow.created_at, TcoInputsRow.updated_at)]
        return max(until - DEFAULT_TCO_WINDOW, min((t for t in firsts if t), default=until))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _sqlite_time(moment: datetime) -> str:
    """The text form UtcDateTime stores in SQLite (naive UTC, always with microseconds)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _current_tco(engine: Engine) -> TcoInputs | None:
    with engine.connect() as conn:
        row = conn.execute(select(TcoInputsRow).order_by(TcoInputsRow.id.desc()).limit(1)).first()
    return TcoInputs.from_mapping({name: getattr(row, name) for name in TCO_FIELDS}) if row else None


def _seed_tco(engine: Engine, inputs: TcoInputs) -> TcoInputs:
    with engine.begin() as conn:
        conn.execute(insert(TcoInputsRow).values(updated_at=datetime.now(UTC), **inputs.to_dict()))
    return inputs
