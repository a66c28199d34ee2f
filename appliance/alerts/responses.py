"""Counts of API responses by outcome, for the error-rate and overload alerts."""
from __future__ import annotations

import threading

from flask import Flask, Response, request


class ResponseCounter:
    """Cumulative (responses, 5xx, 503) of the OpenAI endpoints (/v1); the alert evaluator
    takes differences over its window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0, 0, 0]

    def count(self, status: int) -> None:
        with self._lock:
            self._counts[0] += 1
            self._counts[1] += status >= 500
            self._counts[2] += status == 503

    def totals(self) -> tuple[int, int, int]:
        with self._lock:
            return self._counts[0], self._counts[1], self._counts[2]


def init_app(app: Flask, counter: ResponseCounter) -> None:
    @app.after_request
    def _count(response: Response) -> Response:
        if request.path.startswith("/v1/"):
            counter.count(response.status_code)
        return response
