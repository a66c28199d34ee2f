"""BatchWriter: a background thread that writes queued items in batches.

`put` only appends to an in-memory queue, so a caller (the API thread that finished a request)
never waits on the database. The writer wakes every `flush_interval` seconds, or as soon as
`max_batch` items are waiting, or on `flush`/`close`, and hands everything queued to `write`
as one batch (one transaction). A batch whose write fails stays in memory and is retried.

What a crash can lose: items queued since the last committed batch, that is at most the last
flush interval (plus the time of one write). `close` writes everything before returning.

Two locks: `_cv` guards the queue and counters and is held only for list operations; `_commit`
is held while a batch moves out of the queue and is written, so `snapshot()` sees every item
exactly once: either still in memory or already committed.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class WriterClosed(RuntimeError):
    """The writer was closed; nothing more can be queued."""


class BatchWriter(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None], *, flush_interval: float = 1.0,
                 max_batch: int = 5000, name: str = "airlock-ledger-writer") -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval}")
        self._write = write
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._queue: list[T] = []
        self._inflight: list[T] = []
        self._queued = 0            # items ever queued
        self._written = 0           # items ever committed
        self._flush_wanted = False
        self._closing = False
        self._cv = threading.Condition()
        self._commit = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        with self._cv:
            if self._closing:
                raise WriterClosed("the ledger writer is closed")
            self._queue.append(item)
            self._queued += 1
            if len(self._queue) >= self.max_batch:
                self._cv.notify_all()

    def backlog(self) -> int:
        with self._cv:
            return self._queued - self._written

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item queued before this call is written; False on timeout."""
        with self._cv:
            target = self._queued
            self._flush_wanted = True
            self._cv.notify_all()
            return self._cv.wait_for(lambda: self._written >= target, timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write everything still queued and stop; False when `timeout` ran out first."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(timeout)
        unwritten = self.backlog()
        if unwritten:
            log.error("ledger writer stopped with %d rows unwritten", unwritten)
        return unwritten == 0

    def pending(self) -> list[T]:
        """Items not yet committed, without waiting for a write in progress (for a last-resort
        copy when the writer is stuck; a batch being written may still commit afterwards)."""
        with self._cv:
            return list(self._inflight) + list(self._queue)

    @contextmanager
    def snapshot(self) -> Iterator[list[T]]:
        """Items not yet committed; while inside, no batch commits, so a database read made
        inside sees each item either here or in the database, never both or neither."""
        with self._commit:
            with self._cv:
                pending = self._inflight + self._queue
            yield pending

    def _run(self) -> None:
        failures = 0
        while True:
            with self._cv:
                if failures:    # back off, but a flush or close still wakes the writer
                    self._cv.wait(min(30.0, self.flush_interval * 2 ** failures))
                else:
                    self._cv.wait_for(self._should_write, timeout=self.flush_interval)
                if self._closing and not self._queue and not self._inflight:
                    return
                self._flush_wanted = False
            failures = 0 if self._write_batch() else failures + 1

    def _should_write(self) -> bool:
        return self._closing or self._flush_wanted or len(self._queue) >= self.max_batch

    def _write_batch(self) -> bool:
        with self._commit:
            with self._cv:
                self._inflight.extend(self._queue)
                self._queue = []
            batch = self._inflight
            if not batch:
                return True
            try:
                self._write(batch)
            except Exception:
                log.exception("writing %d ledger rows failed; they stay queued and are retried", len(batch))
                return False
            self._inflight = []
        with self._cv:
            self._written += len(batch)
            self._cv.notify_all()
        return True
