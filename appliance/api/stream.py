"""What a Job reads its answer from.

Three kinds implement it explicitly: the engine's RequestStream (engine/request_stream.py),
ReplayStream (an answer from a response cache) and RecordingStream (an engine stream whose
answer is stored in the response caches once it ends well), both in cached_jobs.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from engine.outputs import RequestDelta, RequestMetrics


class Stream(Protocol):
    request_id: str
    metrics: RequestMetrics

    @property
    def finished(self) -> bool:
        """True once the last delta has been sent (it may not have been read yet)."""

    def deltas(self, timeout: float | None) -> Iterator[RequestDelta | None]:
        """The deltas in order; None when `timeout` passed with nothing new."""

    def ready(self) -> bool:
        """True when the next read will not wait."""

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback` (it must not block) whenever a read would no longer wait."""

    def abort(self) -> None:
        """Stop the work behind the stream, if any is still running."""
